"""What every group robot and signed webhook shares.

An implementation says which message types it has, their byte limits, how a message body looks,
how a request is signed, and how the vendor's answer maps to an outcome. This base does the
rest: templates, the robot's keyword, byte-exact limits with splitting or a card, digests, the
HTTP call with its timeouts, and redaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal, TypeVar

import httpx
from ada_url import URL
from pydantic import Field, ValidationInfo, field_validator

from channels.common.bodies import plain, without_tables
from channels.common.limits import cut_bytes, nbytes, split
from publisher.channel import ChannelOptions, MessageChannel, Payload, SecretValue, with_margin
from publisher.errors import RenderError
from publisher.model import Action, Outcome, PublishedNotice
from publisher.secrets import RedactingFilter, Secret, redact

# httpx logs every request's URL at INFO, key and all: scrub it at the source
logging.getLogger("httpx").addFilter(RedactingFilter())


_LOOPBACK = ("localhost", "127.0.0.1", "[::1]", "::1")
# query parameters and path markers that carry a robot's credential
_CREDENTIAL_PARAMS = re.compile(r"[?&](?:key|access_token|token|secret|sign)=(?!\$\{)", re.I)
_CREDENTIAL_PATH = re.compile(r"/hook/(?!\$\{)[^/?#]+", re.I)


def _web_url(url: str) -> URL:
    """``url`` parsed as a browser would, if it is an http(s) URL; else a ValueError that
    says how to write it."""
    try:
        parsed = URL(url.strip())
    except ValueError:
        raise ValueError("webhook_url is not a URL (write https://…)") from None
    if parsed.protocol not in ("https:", "http:"):
        raise ValueError(f"webhook_url must be an https:// URL, not {parsed.protocol}")
    return parsed


def _on_this_machine(url: str) -> bool:
    try:
        return URL(re.sub(r"\$\{[^}]*\}", "x", url.strip())).hostname in _LOOPBACK
    except ValueError:
        return False


class WebhookOptions(ChannelOptions):
    # plain http:// to a robot that is not on this machine sends its key in clear: refused
    # unless this is set (a test endpoint on the campus network). Declared before webhook_url
    # so that its validator can read it.
    allow_insecure: bool = False
    webhook_url: SecretValue
    msgtype: str = ""  # each vendor has its default and its list
    timeout: float = Field(10.0, gt=0, le=60)
    on_unknown: Literal["retry", "hold"] = "retry"
    announce_withdrawal: bool = True
    keyword: str | None = None  # the robot's security keyword: put into every message
    long: Literal["split", "card", "summary"] = "split"  # what to do with a notice too long
    max_bytes: int | None = Field(None, ge=256)  # override the vendor's content limit
    rate_per_minute: int | None = Field(None, ge=1)
    rate_per_second: int | None = Field(None, ge=1)
    rate_limit: bool = True  # off only for endpoints of your own (benchmarks)
    # each rate window is kept this much longer than the vendor's: a vendor that stamps
    # arrivals after network jitter must never count one send too many (45009)
    rate_margin: float = Field(0.05, ge=0, le=1)
    digest: bool = True  # fold a backlog larger than the rate into digest messages
    digest_max: int = Field(8, ge=2, le=50)
    hold_for_digest: bool = False  # send only through scheduled `digest` jobs

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _shaped_like_a_url(cls, value: object) -> object:
        # the part written in the file is checked even while its ${ENV} is unset: a URL
        # without https:// must fail `check`, not be retried later as a network error
        if isinstance(value, str) and not re.fullmatch(r"\s*\$\{[^}]*\}\s*", value):
            _web_url(re.sub(r"\$\{[^}]*\}", "x", value))
        return value

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _no_literal_key(cls, value: object) -> object:
        if (
            isinstance(value, str)
            and (_CREDENTIAL_PARAMS.search(value) or _CREDENTIAL_PATH.search(value))
            and not _on_this_machine(value)  # a local test endpoint's key is no secret
        ):
            raise ValueError(
                "the robot's key is written into the config file; put it in the environment "
                "and write ${NAME} in its place (e.g. …send?key=${WECOM_KEY})"
            )
        return value

    @field_validator("webhook_url", mode="after")
    @classmethod
    def _reachable_safely(cls, value: Secret, info: ValidationInfo) -> Secret:
        try:
            url = value.reveal()
        except LookupError:
            return value  # unset ${ENV}: the channel reports itself as not configured
        parsed = _web_url(url)
        insecure = parsed.protocol == "http:" and parsed.hostname not in _LOOPBACK
        if insecure and not info.data.get("allow_insecure", False):
            raise ValueError(
                "webhook_url uses http:// to another machine: the robot's key would travel "
                "in clear; use https://, or set allow_insecure: true for a test endpoint"
            )
        return value


@dataclass
class Message:
    """One message before it is serialised: its JSON body and the text fields with limits."""

    body: dict[str, Any]
    label: str
    fields: list[tuple[str, str, int]] = field(default_factory=list)  # (name, value, limit)


W = TypeVar("W", bound=WebhookOptions)


class WebhookChannel(MessageChannel[W]):
    vendor: ClassVar[str] = ""
    msgtypes: ClassVar[tuple[str, ...]] = ()
    default_msgtype: ClassVar[str] = ""
    card_types: ClassVar[tuple[str, ...]] = ()  # link/card types; the first serves `long: card`
    supports_digest: ClassVar[bool] = True
    # (sends, seconds) the vendor allows per robot
    default_rates: ClassVar[tuple[tuple[int, float], ...]] = ()
    request_limit: ClassVar[int | None] = None  # bytes of the whole request, if the vendor caps it

    @property
    def request_bytes(self) -> int | None:
        """The cap on a whole request: the vendor's, or ``max_bytes`` where the site set it
        (an uncertain vendor limit is a setting for the request as for the text)."""
        if self.request_limit is None:
            return None
        return self.options.max_bytes or self.request_limit

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.on_unknown = self.options.on_unknown
        self.msgtype = self.options.msgtype or self.default_msgtype
        if self.msgtype not in self.msgtypes:
            raise RenderError(
                f"channel '{self.name}': msgtype {self.msgtype!r} is not one of "
                f"{', '.join(self.msgtypes)}"
            )
        self._client: httpx.Client | None = None

    # ---------------------------------------------------------------- identity and limits

    @property
    def robot_key(self) -> str:
        """Identifies the robot (for shared rate limits) without revealing its URL."""
        if self.unavailable():
            return f"unconfigured:{self.name}"
        return hashlib.sha256(self.options.webhook_url.reveal().encode()).hexdigest()[:32]

    @property
    def rate_limits(self) -> list[tuple[int, float]]:
        if not self.options.rate_limit:
            return []
        limits = dict((s, c) for c, s in self.default_rates)
        if self.options.rate_per_minute:
            limits[60.0] = self.options.rate_per_minute
        if self.options.rate_per_second:
            limits[1.0] = self.options.rate_per_second
        return with_margin([(c, s) for s, c in limits.items()], self.options.rate_margin)

    @property
    def digest_enabled(self) -> bool:
        return self.supports_digest and self.options.digest

    @property
    def hold_for_digest(self) -> bool:
        return self.supports_digest and self.options.hold_for_digest

    @property
    def announces_withdrawal(self) -> bool:
        return self.options.announce_withdrawal

    def digest_capacity(self) -> int:
        return self.options.digest_max

    @property
    def target(self) -> str:
        if self.unavailable():
            return "(not configured)"
        return redact(self.options.webhook_url.reveal())

    def content_limit(self, msgtype: str) -> int:
        """Bytes the main text field of ``msgtype`` may hold."""
        return self.options.max_bytes or 4096

    # ---------------------------------------------------------------- what vendors write

    @abstractmethod
    def text_message(
        self, msgtype: str, title: str, content: str, n: PublishedNotice | None
    ) -> Message:
        """A message of a text-like type (text, markdown, post …) carrying ``content``."""

    @abstractmethod
    def card_message(
        self, msgtype: str, title: str, description: str, n: PublishedNotice
    ) -> Message:
        """A link card of ``msgtype``: a title, a short description, the full text's URL."""

    def digest_message(self, title: str, items: Sequence[PublishedNotice]) -> Message:
        """Several notices in one message; the default is a Markdown/text list."""
        lines = [
            f"{i}. [{v.notice.title}]({v.url})"
            if self.markdown(self.msgtype)
            else f"{i}. {v.notice.title} {v.url}"
            for i, v in enumerate(items, 1)
        ]
        return self.text_message(
            self.msgtype, title, self.with_keyword(f"{title}\n\n" + "\n".join(lines)), None
        )

    def markdown(self, msgtype: str) -> bool:
        return msgtype not in ("text",)

    # message types that render Markdown tables (WeCom's markdown_v2); the others get a line
    # that says how many rows and links to the full text
    table_types: ClassVar[frozenset[str]] = frozenset()

    def body_for(self, notice: PublishedNotice) -> str:
        """The notice's Markdown body as this robot's message type shows it."""
        body = notice.notice.body
        if not self.markdown(self.msgtype):
            return plain(body, notice.tokens)
        if self.msgtype in self.table_types:
            return body
        return without_tables(body, notice.url, notice.tokens)

    def sign(
        self, url: str, body: bytes, key: str, now: datetime
    ) -> tuple[str, dict[str, str], bytes]:
        """The request to make: URL, extra headers, body. Vendors that sign override this."""
        return url, {}, body

    # how a robot answering with a JSON code is read (WeCom, DingTalk); others override
    code_fields: ClassVar[tuple[str, ...]] = ("errcode",)
    retry_codes: ClassVar[dict[int, float]] = {}  # code → seconds to wait
    rate_codes: ClassVar[frozenset[int]] = frozenset()  # those of them that say "too fast"
    disabled_codes: ClassVar[dict[int, str]] = {}  # code → what is wrong with the configuration
    content_codes: ClassVar[dict[int, str]] = {}  # code → what is wrong with this message
    rejected_statuses: ClassVar[tuple[int, ...]] = ()  # HTTP statuses meaning a wrong URL

    def outcome_of(self, resp: httpx.Response) -> Outcome:
        """Map the answer (usually a code inside an HTTP 200 body) to an outcome; a code not
        in the tables is a failure, never "sent"."""
        status = resp.status_code
        if status == 429:
            return Outcome.retry("HTTP 429", self.retry_after(resp) or 60.0, limited=True)
        if status >= 500:
            return Outcome.retry(f"HTTP {status}", self.retry_after(resp))
        if status in self.rejected_statuses:
            return Outcome.disabled(f"HTTP {status}: webhook URL rejected")
        if status != 200:
            return Outcome.failed(f"HTTP {status}")
        code, msg = self.json_code(resp, *self.code_fields)
        if code is None:
            return Outcome.unknown(f"HTTP 200 without a {self.vendor} JSON answer")
        if code == 0:
            return Outcome.sent()
        if code in self.retry_codes:
            return Outcome.retry(
                f"errcode {code}: {msg}", self.retry_codes[code], limited=code in self.rate_codes
            )
        if code in self.disabled_codes:
            return Outcome.disabled(f"errcode {code}: {self.disabled_codes[code]} ({msg})")
        if code in self.content_codes:
            return Outcome.failed(f"errcode {code}: {self.content_codes[code]} ({msg})")
        return Outcome.failed(f"errcode {code} (not a documented success): {msg}")

    # ---------------------------------------------------------------- rendering

    def with_keyword(self, text: str) -> str:
        """``text`` carrying the robot's keyword: inside a Markdown heading that opens it
        (``## 信息公开 标题``; put before the ``##`` it would show the marks literally),
        else in front."""
        kw = self.options.keyword
        if not kw or kw in text:
            return text
        return _into_first_line(text, kw, self.markdown(self.msgtype), after=False)

    def with_mark(self, text: str, mark: str) -> str:
        """``text`` carrying its (i/N) mark: after a Markdown heading that opens it, so the
        heading stays a heading, else in front."""
        return _into_first_line(text, mark, self.markdown(self.msgtype), after=True)

    def withdrawal_text(self, notice: PublishedNotice) -> str:
        """What a withdrawal announcement says: that it was withdrawn, when, and why. Never
        the withdrawn text: a notice taken down because it exposed personal data must not
        be quoted again in the group."""
        when = notice.withdrawn_at or self.ctx.clock.now()
        local = when.astimezone(self.ctx.site.timezone)
        text = f"该公开事项已于 {local.year}年{local.month}月{local.day}日 {local:%H:%M} 撤回。"
        if notice.withdraw_reason:
            text += f"撤回原因：{notice.withdraw_reason}"
        return text

    def render(self, notice: PublishedNotice, action: Action) -> list[Payload]:
        n = notice.notice
        if action == Action.WITHDRAW:
            return [self._payload(self._withdrawal(notice))]
        prefix = "【更正】" if notice.is_revision else ""
        title = self.with_keyword(prefix + n.title)
        if self.msgtype in self.card_types:
            description = n.summary or _excerpt(n.body)
            return [self._payload(self.card_message(self.msgtype, title, description, notice))]
        template = f"{self.vendor}/{self.msgtype}.j2"
        values = dict(
            n=notice,
            notice=n,
            prefix=prefix,
            action=str(action),
            keyword=self.options.keyword or "",
            body=self.body_for(notice),  # the body as this message type shows it
        )
        full = self.with_keyword(self.render_template(template, full=True, **values).strip())
        limit = self.content_limit(self.msgtype)
        if nbytes(full) <= limit and self._fits(
            self.text_message(self.msgtype, title, full, notice)
        ):
            return [self._payload(self.text_message(self.msgtype, title, full, notice))]
        if self.options.long == "card" and self.card_types:
            return [
                self._payload(
                    self.card_message(
                        self.card_types[0], title, n.summary or _excerpt(n.body), notice
                    )
                )
            ]
        if self.options.long == "summary":
            short = self.with_keyword(self.render_template(template, full=False, **values).strip())
            return [
                self._payload(
                    self.text_message(self.msgtype, title, cut_bytes(short, limit), notice)
                )
            ]
        return [self._payload(m) for m in self._split(full, title, limit, notice)]

    def _withdrawal(self, notice: PublishedNotice) -> Message:
        """The announcement of a withdrawal, in this robot's message type: the title, the
        time, the reason and the notice's address (where a 已撤回 page now stands)."""
        title = self.with_keyword("【撤回】" + notice.notice.title)
        said = self.withdrawal_text(notice)
        if self.msgtype in self.card_types:
            return self.card_message(self.msgtype, title, said, notice)
        if self.markdown(self.msgtype):
            content = f"## {title}\n\n{said}\n\n[查看说明]({notice.url})"
        else:
            content = f"{title}\n{said}\n说明：{notice.url}"
        return self.text_message(
            self.msgtype, title, cut_bytes(content, self.content_limit(self.msgtype)), notice
        )

    def _split(self, full: str, title: str, limit: int, notice: PublishedNotice) -> list[Message]:
        """Pieces of ``full``, each marked (i/N) and carrying the keyword, each within limits."""
        budget = limit
        for _ in range(8):
            reserve = nbytes(f"({99}/{99}) ") + nbytes(self.options.keyword or "") + 1
            pieces = split(full, max(budget - reserve, 64))
            total = len(pieces)
            messages = []
            for i, piece in enumerate(pieces, 1):
                mark = f"({i}/{total})"
                content = self.with_keyword(self.with_mark(piece.lstrip("\n"), mark))
                messages.append(self.text_message(self.msgtype, f"{title} {mark}", content, notice))
            if all(self._fits(m) for m in messages):
                return messages
            budget = int(budget * 0.85)  # JSON escaping made a request too large: retry smaller
        raise RenderError(
            f"channel '{self.name}': cannot fit the notice into {self.request_bytes} bytes"
        )

    def _fits(self, m: Message) -> bool:
        if any(nbytes(value) > limit for _, value, limit in m.fields):
            return False
        if self.request_bytes is not None:
            return len(_dumps(m.body)) + 200 <= self.request_bytes  # 200: signature fields
        return True

    def _payload(self, m: Message) -> Payload:
        for name, value, limit in m.fields:
            if nbytes(value) > limit:
                raise RenderError(
                    f"channel '{self.name}': {name} is {nbytes(value)} bytes, over "
                    f"the limit of {limit}"
                )
        return Payload(self.target, "application/json", _dumps(m.body), label=m.label)

    def digest_title(self, notices: Sequence[PublishedNotice], when: datetime) -> str:
        """What the digest holds: the days its notices were published (not the day it is
        sent: a backlog from March to November is not "11月27日公开事项")."""
        tz = when.tzinfo
        days = sorted({v.notice.publish_at.astimezone(tz).date() for v in notices}) or [when.date()]
        first, last = days[0], days[-1]

        years = first.year != when.year or last.year != when.year

        def day(d: date) -> str:
            return f"{d.year}年{d.month}月{d.day}日" if years else f"{d.month}月{d.day}日"

        span = day(first) if first == last else f"{day(first)}至{day(last)}"
        return self.with_keyword(f"信息公开 · {span}公开事项（{len(notices)}项）")

    def render_digest(self, notices: Sequence[PublishedNotice], when: datetime) -> Payload:
        return self._payload(self.digest_message(self.digest_title(notices, when), notices))

    def digest_fits(self, notices: Sequence[PublishedNotice], when: datetime) -> bool:
        return self._fits(self.digest_message(self.digest_title(notices, when), notices))

    def render_alert(self, text: str) -> Payload:
        msgtype = "text" if "text" in self.msgtypes else self.msgtype
        content = self.with_keyword(text)
        return self._payload(self.text_message(msgtype, content[:60], content, None))

    # ---------------------------------------------------------------- sending

    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(transport=self.ctx.transport, timeout=self.options.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def send(self, payload: Payload, key: str = "") -> Outcome:
        reason = self.unavailable()
        if reason:
            return Outcome.disabled(reason)
        url, headers, body = self.sign(
            self.options.webhook_url.reveal(), payload.body, key, self.ctx.clock.now()
        )
        try:
            resp = self.client().post(
                url,
                content=body,
                headers={"Content-Type": "application/json; charset=utf-8", **headers},
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Outcome.retry(f"could not connect: {type(exc).__name__}")
        except (
            httpx.ReadTimeout,
            httpx.WriteTimeout,
            httpx.RemoteProtocolError,
            httpx.ReadError,
        ) as exc:
            # the request may have arrived: whether the group saw it is unknown
            return Outcome.unknown(f"no answer after sending ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return Outcome.retry(f"HTTP error: {type(exc).__name__}")
        return self.outcome_of(resp)

    def retry_after(self, resp: httpx.Response) -> float | None:
        """Retry-After in seconds or as an HTTP date."""
        value = resp.headers.get("Retry-After")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, (parsedate_to_datetime(value) - self.ctx.clock.now()).total_seconds())
        except (TypeError, ValueError):
            return None

    def json_code(self, resp: httpx.Response, *names: str) -> tuple[int | None, str]:
        """The vendor's code and message from a JSON answer (None when there is none)."""
        try:
            data = resp.json()
        except ValueError:
            return None, ""
        if not isinstance(data, dict):
            return None, ""
        for name in names:
            if name in data:
                try:
                    code = int(data[name])
                except (TypeError, ValueError):
                    return None, ""
                msg = str(data.get("errmsg") or data.get("msg") or data.get("StatusMessage") or "")
                return code, msg[:200]
        return None, ""


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _excerpt(body: str, length: int = 120) -> str:
    from publisher.text import plain_text

    text = " ".join(plain_text(body).split())
    return text if len(text) <= length else text[:length] + "…"


_HEADING = re.compile(r"^(#{1,6}[ \t]+)")


def _into_first_line(text: str, word: str, markdown: bool, *, after: bool) -> str:
    """``word`` put into the first line of ``text``: in a Markdown heading after its marks
    (``after=False``) or at its end (``after=True``); otherwise before the text."""
    first, sep, rest = text.partition("\n")
    m = _HEADING.match(first) if markdown else None
    if m is None:
        return f"{word} {text}"
    if after:
        return f"{first} {word}{sep}{rest}"
    return f"{m.group(1)}{word} {first[m.end() :]}{sep}{rest}"
