"""config.yaml → validated, typed settings, once, at start.

Every problem is reported with the file, line and field, and with a hint when the fix is not
obvious. Secrets come from ``${ENV}`` references and are never shown back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from publisher.channel import ChannelOptions, MessageChannel, SecretValue, channel_class
from publisher.errors import CatalogueError, ConfigError, ErrorSet, Located, UnknownChannelType
from publisher.model import Notice, SiteInfo
from publisher.notices import yamlsrc
from publisher.notices.catalogue import Catalogue, Duty, load_catalogue, parse_rhythm
from publisher.notices.index_numbers import DEFAULT_PATTERN, IndexScheme, check_pattern
from publisher.secrets import expand_env

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, None: 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def parse_duration(value: object) -> float:
    """'30s', '5m', '1h', '2d', '250ms' or a number of seconds → seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration (write 30s, 5m, 1h, 2d)")
    return float(m[1]) * _UNITS[m[2]]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteConfig(_Model):
    name: str = Field(min_length=1)
    school_name: str = Field(min_length=2, description="official school name, checked by review")
    base_url: str = "http://127.0.0.1:8080"
    timezone: str = "Asia/Shanghai"
    language: str = "zh-CN"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name like Asia/Shanghai)"
            ) from None
        return v

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("base_url must start with http:// or https://")
        return v.rstrip("/")


class BackupsConfig(_Model):
    folder: str = "backups"  # where `publisher db backup` and `job: backup` write
    keep: int = Field(14, ge=1)  # the newest N there are kept, older ones removed


class StoreConfig(_Model):
    url: str = "sqlite:///var/publisher.db"
    backups: BackupsConfig = BackupsConfig()


class ItemsConfig(_Model):
    folder: str = "items"
    pattern: str = "**/*.md"
    max_bytes: int = Field(2_000_000, ge=1000)


class OutputConfig(_Model):
    folder: str = "public"
    # several instances writing one folder on shared storage (NFS): one build record for all
    # of them. Otherwise (the default) every instance keeps its own folder current, with a
    # build record of its own (machine + folder), whoever claimed the deliveries.
    shared: bool = False


class TemplatesConfig(_Model):
    folder: str | None = None


class CatalogueConfig(_Model):
    file: str | None = None
    items: list[dict[str, Any]] = []


class DutyConfig(_Model):
    items: list[int] = Field(min_length=1)  # 清单 item numbers
    owner: str = ""  # the department that must publish them (责任部门)
    rhythm: str = "on change"  # once | on change | each term | yearly by MM-DD
    notify: str | None = None  # a robot channel that reminds the owner (job: coverage)

    @field_validator("rhythm")
    @classmethod
    def _rhythm(cls, v: str) -> str:
        parse_rhythm(v)
        return v


class DisclosureConfig(_Model):
    """The 信息公开目录 and the rules' clocks: 索引号, duties per 清单 item, reports."""

    org_code: str = Field("XXGK", min_length=1, max_length=40)  # 机构代码 in the 索引号
    index_pattern: str = DEFAULT_PATTERN
    # when terms start (MM-DD), for rhythm "each term"; the school year starts on 09-01
    terms: list[str] = ["09-01", "03-01"]
    on_time_days: int = Field(20, ge=1, le=365)  # 20 个工作日 (教育部令第29号)
    duties: list[DutyConfig] = []
    # the annual report's office-written parts (reports/annual-YEAR.yaml) and its output
    reports_folder: str = "reports"

    @field_validator("index_pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        return check_pattern(v)

    @field_validator("terms")
    @classmethod
    def _terms(cls, v: list[str]) -> list[str]:
        for t in v:
            if not re.fullmatch(r"\d{2}-\d{2}", t):
                raise ValueError(f"term start {t!r} is not MM-DD")
            try:
                date(2024, int(t[:2]), int(t[3:]))
            except ValueError:
                raise ValueError(f"term start {t!r} is not a date") from None
        if not v:
            raise ValueError("give at least one term start (MM-DD)")
        return v


class ReviewerConfig(_Model):
    name: str = Field(min_length=1)
    role: str = "reviewer"
    # the OS accounts allowed to sign as this reviewer from the CLI; empty: any account
    os_users: list[str] = []


class ReviewConfig(_Model):
    signoffs_required: int = Field(1, ge=1, le=5)
    reviewers: list[ReviewerConfig] = []
    # a review record in a notice file: "record" keeps it as evidence with the version it names;
    # "approve" lets it sign for the rostered reviewers it names (never past a blocking finding)
    paper_records: Literal["record", "approve"] = "record"
    promotion: Literal["block", "warn", "off"] = "block"
    known_titles: list[str] = []
    allowed_domains: list[str] = []
    require_school_name: bool = False
    school_name_aliases: list[str] = []
    deny_list: list[str] = []
    student_id_pattern: str | None = None
    student_id_severity: Literal["block", "warn"] = "warn"
    emoji: Literal["block", "warn", "off"] = "warn"
    scan_attachments: bool = True

    @field_validator("student_id_pattern")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


class DeliveryConfig(_Model):
    max_attempts: int = Field(8, ge=1, le=100)
    backoff_base: float = 30.0
    backoff_max: float = 3600.0
    jitter: float = Field(0.2, ge=0, le=1)
    lease: float = 300.0
    batch: int = Field(50, ge=1, le=10_000)
    concurrency: int = Field(16, ge=1, le=256)  # channels served side by side
    shutdown_grace: float = 20.0  # SIGTERM: how long the send in hand may take to finish
    # a robot that tells a person when another channel is paused (an operator notification;
    # `alert_channel`, its old name, is still read)
    operator_channel: str | None = Field(
        None, validation_alias=AliasChoices("operator_channel", "alert_channel")
    )
    # a person is told when a target answered "too fast" this many times within an hour (the
    # windows should prevent every one; a robot rate-limited again and again gets blocked)
    rate_limit_replies_alert: int = Field(3, ge=1)

    @field_validator("backoff_base", "backoff_max", "lease", "shutdown_grace", mode="before")
    @classmethod
    def _dur(cls, v: object) -> float:
        return parse_duration(v)


class ChannelConfig(_Model):
    name: str
    type: str
    enabled: bool = True
    options: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("channel names are lower-case ASCII letters, digits, '-' or '_'")
        return v


class RouteConfig(_Model):
    categories: list[str] | Literal["all"] = []
    items: list[int] = []
    departments: list[str] = []
    channels: list[str] = Field(min_length=1)

    def matches(self, notice: Notice) -> bool:
        if self.categories == "all":
            return True
        return (
            notice.category in self.categories
            or notice.item in self.items
            or notice.department in self.departments
        )


class ScheduleConfig(_Model):
    name: str
    job: Literal["tick", "sync", "rebuild", "digest", "backup", "coverage"] = "tick"
    channel: str | None = None  # for job: digest (its robot), job: coverage (default robot)
    cron: str | None = None
    interval: float | None = None
    timezone: str | None = None

    @field_validator("interval", mode="before")
    @classmethod
    def _dur(cls, v: object) -> float | None:
        return None if v is None else parse_duration(v)


class ConsoleConfig(_Model):
    enabled: bool = True  # the office's console under /admin/ of `publisher run`
    session: float = 8 * 3600.0  # a login lasts this long
    # signs the session cookies; by default a random key kept in the store (every instance
    # shares it); set ${ENV} to keep it out of the database and its backups
    secret: SecretValue | None = None
    # serve the console on its own address (an office network, a VPN) instead of under the
    # public site's /admin/; the public server then has no console at all
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)

    @field_validator("session", mode="before")
    @classmethod
    def _session(cls, v: object) -> float:
        return parse_duration(v)


class ServerConfig(_Model):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class ConfigModel(_Model):
    site: SiteConfig
    store: StoreConfig = StoreConfig()
    items: ItemsConfig = ItemsConfig()
    output: OutputConfig = OutputConfig()
    templates: TemplatesConfig = TemplatesConfig()
    catalogue: CatalogueConfig = CatalogueConfig()
    disclosure: DisclosureConfig = DisclosureConfig()
    review: ReviewConfig = ReviewConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    channels: list[ChannelConfig] = []
    routes: list[RouteConfig] = []
    schedules: list[ScheduleConfig] = [ScheduleConfig(name="tick", job="tick", interval=30)]
    server: ServerConfig = ServerConfig()
    console: ConsoleConfig = ConsoleConfig()


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    type: str
    enabled: bool
    options: ChannelOptions


@dataclass(frozen=True)
class Settings:
    """The validated configuration, with paths resolved against the config file's folder."""

    file: Path
    model: ConfigModel
    catalogue: Catalogue
    channels: dict[str, ChannelSpec]
    store_url: str

    @property
    def base_dir(self) -> Path:
        return self.file.parent

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.model.site.timezone)

    @property
    def site(self) -> SiteInfo:
        s = self.model.site
        return SiteInfo(s.name, s.school_name, s.base_url, self.tz, s.language)

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p

    @property
    def items_dir(self) -> Path:
        return self.path(self.model.items.folder)

    @property
    def output_dir(self) -> Path:
        return self.path(self.model.output.folder)

    @property
    def reports_dir(self) -> Path:
        return self.path(self.model.disclosure.reports_folder)

    @property
    def index_scheme(self) -> IndexScheme:
        d = self.model.disclosure
        return IndexScheme(d.index_pattern, d.org_code, self.catalogue, self.tz)

    @property
    def duties(self) -> dict[int, Duty]:
        """Each 清单 item's duty; an item no duty names is ``on change`` with no owner."""
        out: dict[int, Duty] = {}
        for d in self.model.disclosure.duties:
            for no in d.items:
                out[no] = Duty(no, d.owner, parse_rhythm(d.rhythm), d.notify)
        return out

    @property
    def backups_dir(self) -> Path:
        return self.path(self.model.store.backups.folder)

    @property
    def templates_dir(self) -> Path | None:
        folder = self.model.templates.folder
        return self.path(folder) if folder else None

    def route(self, notice: Notice) -> list[str]:
        """The channels a notice goes to: its routes, adjusted by its own ``channels:`` list.

        A plain list replaces the routed set; entries written ``+name`` / ``-name`` add to or
        remove from it. Disabled channels are left out.
        """
        routed: list[str] = []
        for r in self.model.routes:
            if r.matches(notice):
                routed.extend(c for c in r.channels if c not in routed)
        override = notice.channels
        if override is not None:
            if all(c[:1] in "+-" for c in override) and override:
                for c in override:
                    if c[0] == "+" and c[1:] not in routed:
                        routed.append(c[1:])
                    elif c[0] == "-" and c[1:] in routed:
                        routed.remove(c[1:])
            else:
                routed = [c.lstrip("+") for c in override if not c.startswith("-")]
        return [c for c in routed if c in self.channels and self.channels[c].enabled]


def load_settings(file: str | Path) -> Settings:
    path = Path(file)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "config file not found",
            file=str(path),
            hint="run `publisher init` to create a sample site, or pass --config PATH",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config: {exc}", file=str(path)) from None
    return parse_settings(text, path)


# reports one problem: message, where in the file (a path of keys), and a hint
_Err = Callable[..., None]


def parse_settings(text: str, path: Path) -> Settings:
    fname = str(path)
    data, lines = yamlsrc.load(text, file=fname, error=ConfigError)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            "the config must be a mapping of sections (site:, channels: …)", file=fname, line=1
        )
    problems: list[Located] = []

    def err(msg: str, loc: Iterable[Any], hint: str | None = None) -> None:
        loc = tuple(loc)
        problems.append(
            ConfigError(
                msg,
                file=fname,
                line=lines.line(loc),
                field=".".join(str(x) for x in loc) or None,
                hint=hint,
            )
        )

    try:
        model = ConfigModel.model_validate(data)
    except ValidationError as exc:
        for e in exc.errors():
            loc = yamlsrc.pydantic_loc(e["loc"])
            err(_friendly(e), loc)
        raise ErrorSet(problems) from None

    store_url = model.store.url
    try:
        store_url = expand_env(store_url, "store.url")
    except ValueError as exc:
        err(str(exc), ("store", "url"))
    if store_url.startswith("sqlite:///") and not store_url.startswith("sqlite:////"):
        rel = store_url[len("sqlite:///") :]
        if rel and rel != ":memory:":
            store_url = "sqlite:///" + str((path.parent / rel).resolve())

    try:
        cat_file = model.catalogue.file
        catalogue = load_catalogue(
            (path.parent / cat_file) if cat_file else None, model.catalogue.items
        )
    except CatalogueError as exc:
        problems.append(exc)
        catalogue = load_catalogue()

    specs = _channel_specs(model, err)
    declared = {c.name for c in model.channels}
    _check_routes(model, catalogue, declared, err)
    _check_duties(model, catalogue, declared, err)
    _check_schedules(model, specs, err)
    _check_folders(model, path, err)
    _check_review(model, err)
    _check_operator(model, data, specs, err)
    if problems:
        raise ErrorSet(problems)
    # normalise route categories to slugs once, so matching is a plain comparison later
    routes = [
        r
        if r.categories == "all"
        else r.model_copy(
            update={
                "categories": [
                    c.slug for c in (catalogue.resolve_category(x) for x in r.categories) if c
                ]
            }
        )
        for r in model.routes
    ]
    model = model.model_copy(update={"routes": routes})
    return Settings(path.resolve(), model, catalogue, specs, store_url)


def _channel_specs(model: ConfigModel, err: _Err) -> dict[str, ChannelSpec]:
    specs: dict[str, ChannelSpec] = {}
    for i, ch in enumerate(model.channels):
        if ch.name in specs:
            err(f"channel name {ch.name!r} is used twice", ("channels", i, "name"))
            continue
        try:
            cls = channel_class(ch.type)
        except UnknownChannelType as exc:
            err(str(exc), ("channels", i, "type"))
            continue
        try:
            opts = cls.Options.model_validate(ch.options)
        except ValidationError as exc:
            for e in exc.errors():
                err(_friendly(e), ("channels", i, "options", *yamlsrc.pydantic_loc(e["loc"])))
            continue
        specs[ch.name] = ChannelSpec(ch.name, ch.type, ch.enabled, opts)

    return specs


def _check_routes(model: ConfigModel, catalogue: Catalogue, declared: set[str], err: _Err) -> None:
    for i, r in enumerate(model.routes):
        for j, c in enumerate(r.channels):
            if c not in declared:
                err(
                    f"route names unknown channel {c!r}",
                    ("routes", i, "channels", j),
                    hint=f"declared channels: {', '.join(sorted(declared)) or 'none'}",
                )
        if r.categories != "all":
            for j, slug in enumerate(r.categories):
                if catalogue.resolve_category(slug) is None:
                    err(
                        f"unknown 清单 category {slug!r}",
                        ("routes", i, "categories", j),
                        hint=f"valid: {', '.join(catalogue.categories)}",
                    )
        for j, no in enumerate(r.items):
            if no not in catalogue.items:
                err(
                    f"unknown 清单 item {no}",
                    ("routes", i, "items", j),
                    hint=f"items are 1–{max(catalogue.items)}",
                )


def _check_duties(model: ConfigModel, catalogue: Catalogue, declared: set[str], err: _Err) -> None:
    for i, duty in enumerate(model.disclosure.duties):
        for j, no in enumerate(duty.items):
            if no not in catalogue.items:
                err(
                    f"unknown 清单 item {no}",
                    ("disclosure", "duties", i, "items", j),
                    hint=f"items are 1–{max(catalogue.items)}",
                )
        if duty.notify is not None and duty.notify not in declared:
            err(
                f"duty names unknown channel {duty.notify!r}",
                ("disclosure", "duties", i, "notify"),
                hint=f"declared channels: {', '.join(sorted(declared)) or 'none'}",
            )


def _check_schedules(model: ConfigModel, specs: dict[str, ChannelSpec], err: _Err) -> None:
    names: set[str] = set()
    for i, s in enumerate(model.schedules):
        if s.name in names:
            err(f"schedule name {s.name!r} is used twice", ("schedules", i, "name"))
        names.add(s.name)
        if (s.cron is None) == (s.interval is None):
            err("give exactly one of cron: or interval:", ("schedules", i))
            continue
        tz = s.timezone or model.site.timezone
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            err(f"unknown time zone {tz!r}", ("schedules", i, "timezone"))
            continue
        if s.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(s.cron, timezone=ZoneInfo(tz))
            except ValueError as exc:
                err(
                    f"invalid cron expression {s.cron!r}: {exc}",
                    ("schedules", i, "cron"),
                    hint="five fields: minute hour day month day-of-week, e.g. '0 8 * * 1-5'",
                )
        elif s.interval is not None and s.interval < 1:
            err("interval must be at least 1s", ("schedules", i, "interval"))
        if s.job == "digest":
            if s.channel not in specs:
                err(
                    f"a digest job names the channel it sends: {s.channel!r} is not a channel",
                    ("schedules", i, "channel"),
                )
            elif not (
                issubclass(cls := channel_class(specs[s.channel].type), MessageChannel)
                and cls.supports_digest
            ):
                err(f"channel {s.channel!r} does not send digests", ("schedules", i, "channel"))
        if s.job == "coverage":
            robots = [
                n for n, sp in specs.items() if issubclass(channel_class(sp.type), MessageChannel)
            ]
            if s.channel is not None and s.channel not in robots:
                err(
                    f"a coverage job posts its reminder through a robot: {s.channel!r} is not one",
                    ("schedules", i, "channel"),
                    hint=f"robots: {', '.join(robots) or 'none'}",
                )
            elif s.channel is None and not any(d.notify for d in model.disclosure.duties):
                err(
                    "a coverage job needs a robot to post to: give channel: here, or notify: "
                    "on the duties in disclosure.duties",
                    ("schedules", i, "channel"),
                )


def _check_folders(model: ConfigModel, path: Path, err: _Err) -> None:
    base = path.parent.resolve()
    out = (base / model.output.folder).resolve()
    items = (base / model.items.folder).resolve()
    if out == Path(out.anchor) or out == Path.home().resolve():
        err(
            f"output.folder is {out}: the publisher replaces what it writes there",
            ("output", "folder"),
            hint="use a folder of its own, such as public",
        )
    elif out == items or items.is_relative_to(out) or out.is_relative_to(items):
        err(
            f"output.folder ({out}) and items.folder ({items}) overlap: published files would be "
            "read as notices, or notices removed as stale output",
            ("output", "folder"),
            hint="keep them side by side, such as items/ and public/",
        )
    backups = (base / model.store.backups.folder).resolve()
    for name, folder in (("output", out), ("items", items)):
        if backups == folder or backups.is_relative_to(folder) or folder.is_relative_to(backups):
            err(
                f"store.backups.folder ({backups}) overlaps {name}.folder ({folder}): a backup "
                "holds every notice and review"
                + (", and readers could download it" if name == "output" else ""),
                ("store", "backups", "folder"),
                hint="keep backups in a folder of their own, such as backups/",
            )


def _check_review(model: ConfigModel, err: _Err) -> None:
    rv = model.review
    seen_names: set[str] = set()
    for i, who in enumerate(rv.reviewers):
        if who.name in seen_names:
            err(f"reviewer {who.name!r} is listed twice", ("review", "reviewers", i, "name"))
        seen_names.add(who.name)
    if rv.paper_records == "approve" and not rv.reviewers:
        err(
            "paper_records: approve needs a reviewer roster: a record in a file signs only for "
            "reviewers listed in review.reviewers",
            ("review", "paper_records"),
            hint="add review.reviewers (name, role, os_users), or use paper_records: record",
        )
    if rv.signoffs_required > len(rv.reviewers) > 0:
        err(
            f"signoffs_required is {rv.signoffs_required} but the roster has only "
            f"{len(rv.reviewers)} reviewer(s): nothing could ever be approved",
            ("review", "signoffs_required"),
        )


def _check_operator(
    model: ConfigModel, data: dict[str, Any], specs: dict[str, ChannelSpec], err: _Err
) -> None:
    operator = model.delivery.operator_channel
    if operator is not None:
        # the key the file used: a site may still write the old name
        key = (
            "alert_channel"
            if "alert_channel" in (data.get("delivery") or {})
            else "operator_channel"
        )
        where = ("delivery", key)
        if operator not in specs:
            err(f"operator_channel {operator!r} is not a channel", where)
        elif channel_class(specs[operator].type).kind != "message":
            err(
                f"operator_channel {operator!r} must be a robot or webhook, "
                f"not {specs[operator].type}",
                where,
            )


def _friendly(e: Any) -> str:
    kind = e.get("type", "")
    if kind == "missing":
        return "this field is required"
    if kind == "extra_forbidden":
        return "unknown setting (check the spelling; see the config reference in README.md)"
    msg = str(e.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")
