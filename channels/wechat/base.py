"""What both WeChat channels share: their API client with its token, closing it, and the
day boundary their vendors' quotas start again at."""

from __future__ import annotations

import json
from abc import abstractmethod
from datetime import datetime, timedelta, tzinfo
from typing import Any, ClassVar, TypeVar

from publisher.channel import MessageChannel

from .api import TokenCache, WeChatApi
from .options import ApiOptions

OptionsT = TypeVar("OptionsT", bound=ApiOptions)


class ApiChannel(MessageChannel[OptionsT]):
    default_base: ClassVar[str] = ""

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
