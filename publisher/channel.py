"""The contract every channel fulfils.

A channel is either a *state* channel (the set of live notices now: rss, signage) or a
*message* channel (one message per notice version: webhooks). The base classes do the
bookkeeping (templates, atomic writes, unchanged-bytes detection, secrets); an
implementation writes one or two small methods:

- ``StateChannel.render_documents(live)`` → ``{relative path: bytes}`` (``live`` is a
  :class:`LiveSet`: the live notices, and the alerts and tombstones a channel shows)
- ``MessageChannel.render(notice, action)`` → payloads, and ``send(payload)`` → ``Outcome``

What only some channels do is a *capability*, a protocol below the base classes that a
channel class implements (``ServesFiles``, ``ShowsAlerts``, ``ShowsTombstones``,
``TimedOutput``, ``FollowsUp``, ``HasPlayers``, ``PreviewsImages``, ``CountsQuotas``,
``WritesSitePages``, ``TakesVendorEvents``); the core asks ``isinstance`` and finds no
do-nothing default.

Channels import this module and the core's leaf modules (``publisher.model``,
``publisher.errors``, ``publisher.text``, ``publisher.output``), nothing deeper; the core
reaches a channel implementation only through the registry at the end of this module.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from importlib.metadata import entry_points
from pathlib import Path
from typing import (
    Annotated,
    Any,
    ClassVar,
    Generic,
    Literal,
    NamedTuple,
    Protocol,
    TypeVar,
    runtime_checkable,
)

import httpx
import jinja2
from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator

from publisher.errors import ChannelError, RenderError, UnknownChannelType
from publisher.mediatypes import FileRule as FileRule  # part of the contract
from publisher.model import (
    Action,
    Alert,
    ChecklistItem,
    Clock,
    Outcome,
    PublishedNotice,
    SiteInfo,
    Tombstone,
)
from publisher.output import write_tree
from publisher.secrets import MissingSecret, Secret, redact, secret_from_config

SecretValue = Annotated[
    Secret,
    PlainValidator(secret_from_config),
    PlainSerializer(repr, return_type=str),
]


class ChannelOptions(BaseModel):
    """Base of each channel's ``options:`` block; unknown keys are errors (typos show)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)


OptionsT = TypeVar("OptionsT", bound=ChannelOptions)


class Quotas(Protocol):
    """Daily quotas a vendor counts per calendar day in China (a 公众号's 100 publishes),
    shared by every instance: the core keeps them in the store."""

    def take(self, key: str, limit: int, now: datetime) -> bool:
        """Count one use of ``key`` on ``now``'s day if fewer than ``limit`` were used."""
        ...

    def used(self, key: str, limit: int, now: datetime) -> int:
        """How many of ``key``'s uses ``now``'s day has seen."""
        ...


class MemoryQuotas:
    """Quotas of one process (tests, previews); ``publisher run`` uses the store's."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._used: dict[tuple[str, date], int] = {}
        self._lock = threading.Lock()

    def take(self, key: str, limit: int, now: datetime) -> bool:
        day = now.astimezone(self.tz).date()
        with self._lock:
            if self._used.get((key, day), 0) >= limit:
                return False
            self._used[(key, day)] = self._used.get((key, day), 0) + 1
            return True

    def used(self, key: str, limit: int, now: datetime) -> int:
        return self._used.get((key, now.astimezone(self.tz).date()), 0)


@dataclass
class ChannelContext:
    """What the core hands a channel: never the config file, never the store."""

    site: SiteInfo
    templates: jinja2.Environment
    output_dir: Path
    clock: Clock
    # tests and benchmarks swap the HTTP transport instead of patching (as httpx recommends)
    transport: httpx.BaseTransport | None = None
    # the 清单 categories, slug → name, so a channel can offer all of them (not only the ones
    # that happen to have live notices now)
    categories: Mapping[str, str] = field(default_factory=dict)
    # every 清单 item in order, so the site can show the whole catalogue (信息公开目录)
    checklist: Sequence[ChecklistItem] = ()
    # daily vendor quotas shared by the instances (None: counted in this process only)
    quotas: Quotas | None = None

    def __post_init__(self) -> None:
        if self.quotas is None:
            self.quotas = MemoryQuotas(self.site.timezone)


class LiveSet(list[PublishedNotice]):
    """What a state channel builds from, handed to ``build`` and ``render_documents``: the
    live notices (it is their list), and for the channels that show them the signage alerts
    in force (``ShowsAlerts``) and the withdrawn notices (``ShowsTombstones``).
    ``cancelled()`` says the build must stop now: a withdrawal or an alert overtakes it, or
    a newer build of the same folder began in another process."""

    def __init__(
        self,
        views: Iterable[PublishedNotice] = (),
        *,
        alerts: Sequence[Alert] = (),
        tombstones: Sequence[Tombstone] = (),
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(views)
        self.alerts: tuple[Alert, ...] = tuple(alerts)
        self.tombstones: tuple[Tombstone, ...] = tuple(tombstones)
        self.cancelled: Callable[[], bool] = cancelled or (lambda: False)

    @classmethod
    def of(cls, live: Sequence[PublishedNotice]) -> LiveSet:
        """``live`` as a live set (a plain list: no alerts, no tombstones, never cancelled)."""
        return live if isinstance(live, LiveSet) else cls(live)


class Doc(NamedTuple):
    """A document a state channel can produce lazily: ``key`` is a hash of everything its bytes
    depend on, so an unchanged document is not even rendered. (A NamedTuple: a site of 10,000
    notices makes 10,000 of these per build, and they must be cheap.)"""

    key: str
    render: Callable[[], bytes]


@dataclass(frozen=True)
class Payload:
    """Exactly what would go out: the bytes, their type, and where (already redacted)."""

    target: str
    content_type: str
    body: bytes
    label: str = ""

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Channel(ABC, Generic[OptionsT]):
    """``OptionsT`` is the channel's options type; ``Options`` is the same class, for validation."""

    type_name: ClassVar[str]
    kind: ClassVar[Literal["state", "message"]]
    Options: ClassVar[type[ChannelOptions]] = ChannelOptions

    # a folder of the channel's own templates, beside its module: searched after the site's
    # templates folder and the built-in templates (a channel from another package brings its
    # templates along)
    own_templates: ClassVar[str | None] = None
    # how the annual report (信息公开年度报告) names this way of publishing
    outlet_label: ClassVar[str] = ""

    def __init__(self, name: str, options: OptionsT, ctx: ChannelContext) -> None:
        self.name = name
        self.options: OptionsT = options
        self.ctx = ctx
        self.templates = ctx.templates
        if self.own_templates:
            folder = Path(inspect.getfile(type(self))).parent / self.own_templates
            loader = jinja2.ChoiceLoader(
                [ctx.templates.loader, jinja2.FileSystemLoader(str(folder))]
                if ctx.templates.loader
                else [jinja2.FileSystemLoader(str(folder))]
            )
            self.templates = ctx.templates.overlay(loader=loader)

    @property
    def outlet(self) -> str:
        """This channel as the annual report lists it (e.g. 企业微信群机器人)."""
        return self.outlet_label or self.type_name

    # --------------------------------------------------------------- configuration state

    def unavailable(self) -> str | None:
        """Why this channel cannot run now (None when it can). Never contains a secret."""
        for fname, value in self.options:
            if isinstance(value, MissingSecret):
                return (
                    f"environment variable {' and '.join(value.names)} is not set "
                    f"(options.{fname} of channel '{self.name}')"
                )
        return None

    def close(self) -> None:
        """Release connections; the default has none."""

    # --------------------------------------------------------------- templates

    def find_template(self, template: str) -> jinja2.Template:
        """The template named (a channel may keep what it looked up, e.g. for one build)."""
        return self.templates.get_template(template)

    def render_template(self, template: str, **values: Any) -> str:
        try:
            tpl = self.find_template(template)
            return tpl.render(site=self.ctx.site, channel=self, options=self.options, **values)
        except jinja2.TemplateNotFound as exc:
            raise RenderError(
                f"channel '{self.name}': template {exc.name!r} not found in the site's "
                "templates folder or the built-in templates"
            ) from None
        except jinja2.TemplateError as exc:
            lineno = getattr(exc, "lineno", None)
            where = f" line {lineno}" if lineno else ""
            raise RenderError(
                f"channel '{self.name}': template {template}{where}: {redact(str(exc))}"
            ) from None


class StateChannel(Channel[OptionsT]):
    """Shows 'the set of live notices now'. Rebuilding with no change writes nothing."""

    kind: ClassVar[Literal["state", "message"]] = "state"
    folder: str = ""  # below the output folder; set by the implementation from its options

    def __init__(self, name: str, options: OptionsT, ctx: ChannelContext) -> None:
        super().__init__(name, options, ctx)
        self._written: dict[str, str] = {}  # path → key of the Doc last written there
        self._owned: set[str] | None = None  # what the last build left in the folder

    @abstractmethod
    def render_documents(self, live: LiveSet) -> Mapping[str, bytes | Doc]:
        """Every file of this channel for this live set, keyed by path relative to ``folder``:
        bytes, or a :class:`Doc` that is only rendered when its key changed."""

    def root(self) -> Path:
        return self.ctx.output_dir / self.folder

    def forget_written(self) -> None:
        """Render every document at the next build (another process wrote the folder)."""
        self._written = {}

    def build(self, live: Sequence[PublishedNotice]) -> list[str]:
        """Write the documents atomically, delete files no longer produced; return what changed.

        What is taken down goes first: the tombstones of withdrawn notices (under
        ``output.GONE``), then the files no longer produced are deleted (a withdrawn page
        answers 410 Gone from then on). Then the documents this channel wrote before and
        that changed (the home page, the feeds), then new ones; each group from the top of
        the folder down, and at each depth the folders with fewest documents first, so
        thousands of per-notice pages and the big archives come last.

        ``live`` may answer ``cancelled()`` (the engine's live set does: a withdrawal
        overtakes this build, or a newer build of the folder began in another process). It
        is asked before each file is written; once it says yes the build stops there and
        returns what it changed so far. Every file is whole, so the folder is consistent
        file by file, and the next build goes on from what was really written."""
        import json

        from publisher.output import GONE

        live = LiveSet.of(live)
        docs = self.render_documents(live)
        root = self.root()
        listing = root / f".publisher-files.{self.name}.json"
        if not listing.exists():
            self._written = {}  # the output folder was emptied: write everything again
            self._owned = None
        if self._owned is None:  # what the last build listed as its own
            try:
                self._owned = set(json.loads(listing.read_text("utf-8")))
            except (OSError, ValueError):
                self._owned = set()
        owned = self._owned
        cancelled = live.cancelled
        written = self._written
        folders: dict[str, int] = {}
        for path in docs:
            folder = path.rpartition("/")[0]
            folders[folder] = folders.get(folder, 0) + 1

        def order(path: str) -> tuple[bool, bool, int, int, str]:
            return (
                not path.startswith(f"{GONE}/"),
                path not in written,
                path.count("/"),
                folders[path.rpartition("/")[0]],
                path,
            )

        todo = sorted(
            (p for p, d in docs.items() if not (isinstance(d, Doc) and written.get(p) == d.key)),
            key=order,
        )
        wanted = set(docs)
        changed: list[str] = []
        pruned = False
        done = False

        def prune() -> None:
            # files this channel wrote and no longer produces (a withdrawn notice's page)
            gone = write_tree(root, {}, owner=self.name, keep=wanted, previous=owned)
            changed.extend(gone)
            for p in gone:
                written.pop(p, None)
            self._owned = wanted

        try:
            for path in todo:
                if not pruned and not path.startswith(f"{GONE}/"):
                    if cancelled():
                        break
                    prune()
                    pruned = True
                doc = docs[path]
                data = doc.render() if isinstance(doc, Doc) else doc
                if cancelled():
                    break
                changed += write_tree(root, {path: data}, owner=self.name, previous={path})
                if isinstance(doc, Doc):
                    written[path] = doc.key
            else:
                if not pruned and not cancelled():
                    prune()
                    pruned = True
                done = True
        finally:
            if not pruned:
                # stopped early: what it wrote is listed as its own, nothing is deleted
                mine = owned | {p for p in docs if p in written}
                if mine != owned:
                    write_tree(root, {}, owner=self.name, keep=mine, previous=owned)
                    self._owned = mine
        if done and len(written) > len(docs):
            self._written = {p: k for p, k in written.items() if p in docs}
        return changed

    def render_all(self, live: Sequence[PublishedNotice]) -> dict[str, bytes]:
        """Every document's bytes (for previews and tests), rendering lazy ones."""
        return {
            p: d.render() if isinstance(d, Doc) else d
            for p, d in self.render_documents(LiveSet.of(live)).items()
        }


class MessageChannel(Channel[OptionsT]):
    """Sends one message per notice version; what was sent cannot be taken back."""

    kind: ClassVar[Literal["state", "message"]] = "message"
    on_unknown: Literal["retry", "hold"] = "retry"
    supports_digest: ClassVar[bool] = False
    # the notice's local attachments come with their approved bytes (Attachment.data)
    wants_files: ClassVar[bool] = False

    @abstractmethod
    def render(self, notice: PublishedNotice, action: Action) -> list[Payload]:
        """The payload(s) for this notice version, exactly as they would be sent."""

    @abstractmethod
    def send(self, payload: Payload, key: str = "") -> Outcome:
        """Send one payload and say what came of it. Never raises for a delivery problem.

        ``key`` names the message and stays the same for every retry of it (receivers that
        deduplicate use it)."""

    # What the engine asks of robots; the defaults fit a channel without such limits.

    @property
    def robot_key(self) -> str:
        """Identifies the target for shared rate limits (never the URL itself)."""
        return f"channel:{self.name}"

    @property
    def rate_limits(self) -> list[tuple[int, float]]:
        """(sends, seconds) windows the target allows; empty for none."""
        return []

    @property
    def digest_enabled(self) -> bool:
        """Due notices may go out folded into one message (robots, by option)."""
        return False

    @property
    def hold_for_digest(self) -> bool:
        """Notices wait for the scheduled digest instead of going out one by one."""
        return False

    @property
    def announces_withdrawal(self) -> bool:
        """A withdrawal is announced where the notice was sent."""
        return False

    def digest_capacity(self) -> int:
        return 8

    def digest_fits(self, notices: Sequence[PublishedNotice], when: datetime) -> bool:
        return len(notices) <= self.digest_capacity()

    def render_digest(self, notices: Sequence[PublishedNotice], when: datetime) -> Payload:
        raise NotImplementedError(f"channel '{self.name}' does not send digests")

    def render_alert(self, text: str) -> Payload:
        raise NotImplementedError(f"channel '{self.name}' does not send alerts")


# ------------------------------------------------------------------- capabilities
# What only some channels do is a protocol of its own that a channel class implements; the
# core asks ``isinstance(channel, Capability)`` and finds no do-nothing default on the base.


@runtime_checkable
class ServesFiles(Protocol):
    """A state channel whose files need their own media type or caching on the site (a JSON
    Feed's type; a signage bundle that readers must revalidate)."""

    def file_rules(self) -> list[FileRule]:
        """Rules for paths below the output folder, most specific first."""
        ...


@runtime_checkable
class ShowsAlerts(Protocol):
    """A state channel that puts signage alerts in front of everything (signage): its live
    set carries the alerts in force."""

    @property
    def alert_profiles(self) -> list[str]:
        """The screen profiles an alert can be aimed at."""
        ...


@runtime_checkable
class ShowsTombstones(Protocol):
    """A state channel with a page per notice (rss): its live set carries the withdrawn
    notices, whose addresses then lead to a page that says 已撤回 (answered 410 Gone)."""

    def tombstone_page(self, tombstone: Tombstone) -> Doc:
        """The page a withdrawn notice's address leads to: when and why, never its text."""
        ...


@runtime_checkable
class TimedOutput(Protocol):
    """A state channel whose output changes with the clock as well as with the live set (a
    screen's hours)."""

    def timed_state(self, now: datetime) -> tuple[str, datetime | None]:
        """A key that changes whenever such output would (part of the build's fingerprint),
        and when it next changes (the engine comes back then)."""
        ...


@runtime_checkable
class FollowsUp(Protocol):
    """A message channel whose target accepts work and finishes it later (a 公众号 publish
    task): it answers ``Outcome.pending(ref, …)`` and is asked again with ``resume``."""

    def resume(self, ref: str) -> Outcome:
        """Look again at that message: the same kinds of outcome as ``send``."""
        ...


@runtime_checkable
class HasPlayers(Protocol):
    """A state channel whose output devices play and report back on (the signage
    slideshow's heartbeats at ``POST /heartbeat``)."""

    @property
    def profile_names(self) -> list[str]:
        """The profiles a player may say it plays."""
        ...

    def player_version(self, profile: str) -> str | None:
        """The bundle version a player of ``profile`` should be playing now."""
        ...

    def player_key(self) -> str | None:
        """The key a player's heartbeat must carry (None: none is asked for)."""
        ...

    def heartbeat_due(self, profile: str, now: datetime) -> float | None:
        """How many seconds a player of ``profile`` may stay silent at ``now`` before an
        operator is told (None: no player is expected to be on then)."""
        ...


@runtime_checkable
class PreviewsImages(Protocol):
    """A channel that shows a notice as pictures (signage slides), for the console's
    preview."""

    def preview_images(self, view: PublishedNotice, limit: int = 12) -> list[tuple[str, bytes]]:
        """``(label, png bytes)`` for one notice, at most ``limit``."""
        ...


@runtime_checkable
class CountsQuotas(Protocol):
    """A message channel whose vendor counts daily quotas (a 公众号's publishes)."""

    def quota_use(self) -> dict[str, tuple[int, int]]:
        """Each daily vendor quota today: name → (used, allowed)."""
        ...


@runtime_checkable
class WritesSitePages(Protocol):
    """A state channel that writes the site's pages (rss): the pages the site answers
    itself (``/search``) are drawn with its templates, so they look like the rest."""

    def site_template(self, page: str) -> str | None:
        """The template for the site's page ``page`` ("search"), None when it has none."""
        ...


@runtime_checkable
class TakesVendorEvents(Protocol):
    """A channel whose vendor pushes events to the site, at ``/hooks/NAME`` (the 公众号's
    PUBLISHJOBFINISH)."""

    @property
    def listens(self) -> bool:
        """Configured to take events now (e.g. a callback token is set)."""
        ...

    def vendor_event(
        self, method: str, query: Mapping[str, str], body: bytes
    ) -> tuple[int, str, str | None]:
        """What the vendor pushed: the HTTP status and text to answer, and a piece of the
        ``pending_ref`` of deliveries that should be looked at now (None: none)."""
        ...


def with_margin(limits: Sequence[tuple[int, float]], margin: float) -> list[tuple[int, float]]:
    """Rate windows kept longer than the vendor's, so that a send that arrives a little after
    it was counted (network, jitter) never makes a vendor window hold one too many: by
    ``margin`` of the window, and for windows shorter than a minute (Feishu's 5 a second) by
    at least one request's share of it (0.2 s of Feishu's second)."""
    out = []
    for count, seconds in limits:
        extra = seconds * margin
        if seconds < 60:
            extra = max(extra, seconds / count)
        out.append((count, seconds + extra))
    return sorted(out, key=lambda x: x[1])


# what the core holds: a channel of any options type
AnyChannel = Channel[Any]
AnyStateChannel = StateChannel[Any]
AnyMessageChannel = MessageChannel[Any]


# ------------------------------------------------------------------- the registry

# a channel type name → "module:Class", for channels registered in code
# (``register_channel``). Every other channel, the built-in ones included, is an entry point
# in the group ``disclosure_publisher.channels`` (this project's pyproject.toml lists its own
# there): adding a channel never changes the core. Classes are imported on first use, so a
# channel whose dependency is missing only fails when a site configures it.
REGISTRY: dict[str, str] = {}
ENTRY_POINTS = "disclosure_publisher.channels"


def register_channel(type_name: str, target: str) -> None:
    """Make ``type: type_name`` in config.yaml mean the class at ``target`` ("module:Class")."""
    REGISTRY[type_name] = target


def _plugins() -> dict[str, str]:
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINTS)}
    if "rss" not in found:
        raise ChannelError(
            "the built-in channels are not registered: install the project "
            "(`pip install -e .`, which `./dev` does) so that its entry points exist"
        )
    return found


def channel_types() -> list[str]:
    return sorted(set(REGISTRY) | set(_plugins()))


def channel_class(type_name: str) -> type[AnyChannel]:
    """The class of a channel type; ``UnknownChannelType`` lists the valid names."""
    target = REGISTRY.get(type_name) or _plugins().get(type_name)
    if target is None:
        raise UnknownChannelType(type_name, channel_types())
    module_name, _, attr = target.partition(":")
    cls: type[AnyChannel] = getattr(importlib.import_module(module_name), attr)
    return cls
