"""What both WeChat channels share: their API client with its token, closing it, and the
day boundary their vendors' quotas start again at."""

from __future__ import annotations

import json
from abc import abstractmethod
from datetime import datetime, timedelta, tzinfo
from typing import Any, ClassVar, TypeVar

from publisher.channel import MessageChannel
from publisher.model import Outcome
from publisher.secrets import redact

from .api import TOKEN_CODES, NoAnswer, NotSent, Refused, TokenCache, WeChatApi
from .options import ApiOptions

OptionsT = TypeVar("OptionsT", bound=ApiOptions)


class ApiChannel(MessageChannel[OptionsT]):
    default_base: ClassVar[str] = ""
    token_path: ClassVar[str] = ""  # where tokens come from: its refusals are the config's
    disabled_codes: ClassVar[dict[int, str]] = {}  # code → what the office must do
    content_codes: ClassVar[dict[int, str]] = {}  # code → what is wrong with this message

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._api: WeChatApi | None = None

    @abstractmethod
    def _fetch_token(self, force: bool) -> tuple[str, float]:
        """A new access token and its lifetime in seconds (``force``: even if the vendor
        would hand back the current one)."""

    def api(self) -> WeChatApi:
        """The client, made on first use (a channel that never sends opens no connection)."""
        if self._api is None:
            api = WeChatApi(
                self.options.api_base or self.default_base,
                self.options.timeout,
                self.ctx.transport,
                self.name,
            )
            # tokens expire by the site's clock (tests move it; real sites read the system's)
            api.tokens = TokenCache(self._fetch_token, lambda: self.ctx.clock.now().timestamp())
            self._api = api
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def refused(self, exc: Refused, said: str) -> Outcome | None:
        """The outcome of a vendor code this channel treats its own way (waits); None for
        the shared tables."""
        return None

    def outcome_of(self, exc: Exception) -> Outcome:
        """What a failed call comes to: the same mapping for both WeChat APIs, with each
        channel's codes in its tables and ``refused``; an unknown code is a failure."""
        if isinstance(exc, (ValueError, OSError, KeyError, TypeError)):
            # a record this channel cannot read (an edited ref), or a file it cannot open
            return Outcome.failed(redact(str(exc)))
        if isinstance(exc, NotSent):
            return Outcome.retry(str(exc))
        if isinstance(exc, NoAnswer):
            return Outcome.unknown(str(exc))
        assert isinstance(exc, Refused)
        said = redact(f"{exc.api}: errcode {exc.code}: {exc.message}")
        if exc.code in TOKEN_CODES and exc.api != self.token_path:
            return Outcome.retry(f"{said} (a fresh access token was refused too)")
        own = self.refused(exc, said)
        if own is not None:
            return own
        if exc.code in self.disabled_codes:
            return Outcome.disabled(f"{said}: {self.disabled_codes[exc.code]}")
        if exc.code in self.content_codes:
            return Outcome.failed(f"{said} ({self.content_codes[exc.code]})")
        return Outcome.failed(f"{said} (not a documented success)")

    def until_tomorrow(self) -> float:
        return seconds_to_tomorrow(self.ctx.clock.now(), self.ctx.site.timezone)


def seconds_to_tomorrow(now: datetime, tz: tzinfo) -> float:
    """Seconds from ``now`` to a minute past the next midnight in ``tz`` (the vendors' daily
    quotas start again at midnight, China time)."""
    local = now.astimezone(tz)
    tomorrow = (local + timedelta(days=1)).replace(hour=0, minute=1, second=0, microsecond=0)
    return max(60.0, (tomorrow - local).total_seconds())


def dumps(body: dict[str, Any]) -> bytes:
    """JSON as the vendors count it: UTF-8 as is (a 字 is 3 bytes, not a 6-byte escape)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
