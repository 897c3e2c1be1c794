"""The contract every channel fulfils.

A channel is either a *state* channel (the set of live notices now: rss, signage) or a
*message* channel (one message per notice version: webhooks). The base classes do the
bookkeeping (templates, atomic writes, unchanged-bytes detection, secrets); an
implementation writes one or two small methods:

- ``StateChannel.render_documents(live)`` → ``{relative path: bytes}``
- ``MessageChannel.render(notice, action)`` → payloads, and ``send(payload)`` → ``Outcome``

Channels import this module and the core's leaf modules (``publisher.model``,
``publisher.errors``, ``publisher.text``, ``publisher.output``), nothing deeper; the core
reaches a channel implementation only through the registry at the end of this module.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, ClassVar, Generic, Literal, NamedTuple, Protocol, TypeVar

import httpx
import jinja2
from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator

from publisher.errors import ChannelError, RenderError, UnknownChannelType
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

    def render_template(self, template: str, **values: Any) -> str:
        try:
            tpl = self.templates.get_template(template)
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
    def render_documents(self, live: Sequence[PublishedNotice]) -> Mapping[str, bytes | Doc]:
        """Every file of this channel for this live set, keyed by path relative to ``folder``:
        bytes, or a :class:`Doc` that is only rendered when its key changed."""

    shows_alerts: ClassVar[bool] = False  # signage shows emergency alerts in front
    shows_tombstones: ClassVar[bool] = False  # pages of withdrawn notices say 已撤回 (rss)

    def set_tombstones(self, tombstones: Sequence[Tombstone]) -> None:
        """Channels with pages (rss) keep the withdrawn notices for the next build."""

    has_players: ClassVar[bool] = False  # players report heartbeats (the signage slideshow)

    def player_version(self, profile: str) -> str | None:
        """The bundle version a player of ``profile`` should be playing now."""
        return None

    def player_key(self) -> str | None:
        """The key a player's heartbeat must carry (None: none is asked for)."""
        return None

    def heartbeat_due(self, profile: str, now: datetime) -> float | None:
        """How many seconds a player of ``profile`` may stay silent at ``now`` before an
        operator is told (None: no player is expected to be on then, e.g. outside its
        hours). Only channels with players (signage) answer."""
        return None

    def timed_state(self, now: datetime) -> tuple[str, datetime | None]:
        """What of the output depends on the clock rather than on the live set (a screen's
        hours): a key that changes whenever such output would (part of the build's
        fingerprint), and when it next changes (the engine comes back then). Default:
        nothing does."""
        return "", None

    def set_alerts(self, alerts: Sequence[Alert]) -> None:
        """Channels that show alerts (signage) keep them for the next build."""

    @property
    def profile_names(self) -> list[str]:
        """The screen profiles an alert can be aimed at (signage); none by default."""
        return []

    def preview_images(self, view: PublishedNotice, limit: int = 12) -> list[tuple[str, bytes]]:
        """How this channel shows one notice as pictures (signage slides as PNG), for the
        console's preview; ``(label, png bytes)``; none by default."""
        return []

    def root(self) -> Path:
        return self.ctx.output_dir / self.folder

    def forget_written(self) -> None:
        """Render every document at the next build (another process wrote the folder)."""
        self._written = {}

    def build(self, live: Sequence[PublishedNotice]) -> list[str]:
        """Write the documents atomically, delete files no longer produced; return what changed."""
        docs = self.render_documents(live)
        root = self.root()
        if not (root / f".publisher-files.{self.name}.json").exists():
            self._written = {}  # the output folder was emptied: write everything again
            self._owned = None
        out: dict[str, bytes] = {}
        keys: dict[str, str] = {}
        for path, doc in docs.items():
            if isinstance(doc, Doc):
                if self._written.get(path) == doc.key:
                    continue
                out[path] = doc.render()
                keys[path] = doc.key
            else:
                out[path] = doc
        wanted = set(docs)
        changed = write_tree(root, out, owner=self.name, keep=wanted, previous=self._owned)
        self._owned = wanted
        if len(self._written) + len(keys) > len(docs):
            self._written = {p: k for p, k in self._written.items() if p in docs}
        self._written.update(keys)
        return changed

    def render_all(self, live: Sequence[PublishedNotice]) -> dict[str, bytes]:
        """Every document's bytes (for previews and tests), rendering lazy ones."""
        return {
            p: d.render() if isinstance(d, Doc) else d
            for p, d in self.render_documents(live).items()
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

    def resume(self, ref: str) -> Outcome:
        """Look again at a message the target accepted and had not finished
        (``Outcome.pending(ref, …)``): the same kinds of outcome as ``send``. Only channels
        that answer PENDING (the 公众号's publish tasks) need this."""
        return Outcome.failed(f"channel '{self.name}' cannot follow up {ref!r}")

    def quota_use(self) -> dict[str, tuple[int, int]]:
        """Each daily vendor quota today: name → (used, allowed) (a 公众号's publishes)."""
        return {}

    def vendor_event(
        self, method: str, query: Mapping[str, str], body: bytes
    ) -> tuple[int, str, str | None]:
        """What the vendor pushed to ``/wechat/NAME`` (the 公众号's PUBLISHJOBFINISH): the
        HTTP status and text to answer, and a piece of the ``pending_ref`` of deliveries
        that should be looked at now (None: none). Channels without events answer 404."""
        return 404, "not found", None

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
