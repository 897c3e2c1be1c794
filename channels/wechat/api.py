"""Calling WeChat's server APIs (公众号 and 企业微信 apps): access tokens and answers.

Both APIs answer most errors inside an HTTP 200 body (``errcode``), and both want an access
token in the query string that expires (7,200 s) and may be invalidated early. This module
keeps the token, calls an API once, and turns what came back into one of these errors, so the
channels map them to outcomes in one place::

    ApiError                 the call did not do what was asked
    ├── NotSent              the request never left (connect failed): safe to send again
    ├── NoAnswer             sent, no answer (timeout after sending): it may have happened
    └── Refused(code, msg)   the vendor answered with a non-zero errcode

Tokens are Secrets (so ``redact`` scrubs them from every log line and error) and are only
ever put in the query string that httpx's logger sees through the redacting filter.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from publisher.secrets import Secret

# the token codes of both APIs: expired, invalid, or missing
TOKEN_CODES = frozenset({40001, 40014, 41001, 42001})


class ApiError(Exception):
    """A call to the vendor that did not do what was asked."""


class NotSent(ApiError):
    """The request never reached the vendor."""


class NoAnswer(ApiError):
    """The request was sent and no answer came: whether it took effect is unknown."""


class Refused(ApiError):
    def __init__(self, code: int, message: str, api: str) -> None:
        super().__init__(f"{api}: errcode {code}: {message}")
        self.code = code
        self.message = message
        self.api = api


@dataclass
class _Token:
    value: Secret
    use_until: float  # the time after which a fresh one is asked for


class TokenCache:
    """One access token, shared by the threads of this process, fetched again before it
    expires (``early`` seconds before) or when the vendor says it is no longer valid."""

    def __init__(
        self,
        fetch: Callable[[bool], tuple[str, float]],
        now: Callable[[], float] = time.monotonic,
        early: float = 300.0,
    ) -> None:
        # fetch(force) → (token, expires_in seconds); now() → seconds (the site's clock)
        self._fetch = fetch
        self._now = now
        self._early = early
        self._token: _Token | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def get(self) -> str:
        with self._lock:
            if self._token is None or self._now() >= self._token.use_until:
                self._load(force=False)
            assert self._token is not None
            return self._token.value.reveal()

    def invalid(self, rejected: str) -> None:
        """The vendor refused ``rejected``: get another (forced only when the normal call
        hands back the same token, which the vendor has just refused)."""
        with self._lock:
            if self._token is not None and self._token.value.reveal() != rejected:
                return  # another thread already has a newer one
            self._load(force=False)
            assert self._token is not None
            if self._token.value.reveal() == rejected:
                self._load(force=True)

    def _load(self, force: bool) -> None:
        value, expires_in = self._fetch(force)
        self.fetches += 1
        # used until `early` seconds before it expires (at least half its life): the 公众号's
        # stable token is then already renewable while the old one still works
        margin = min(self._early, expires_in / 2)
        self._token = _Token(Secret(value), self._now() + expires_in - margin)


class WeChatApi:
    """A JSON API at ``base`` whose calls carry ``access_token`` in the query string."""

    def __init__(
        self,
        base: str,
        timeout: float,
        transport: httpx.BaseTransport | None,
        name: str,
    ) -> None:
        self.base = base.rstrip("/")
        self.name = name
        self.client = httpx.Client(transport=transport, timeout=timeout)
        self.tokens: TokenCache | None = None

    def close(self) -> None:
        self.client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        """One call; the JSON answer when its errcode is 0 (or absent)."""
        try:
            resp = self.client.request(
                method,
                f"{self.base}{path}",
                params=params,
                content=(
                    None
                    if json_body is None
                    else httpx_json(json_body)  # UTF-8 as is: titles count 字, not \\u escapes
                ),
                headers=(
                    {"Content-Type": "application/json; charset=utf-8"}
                    if json_body is not None
                    else None
                ),
                files=files,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise NotSent(f"{path}: could not connect ({type(exc).__name__})") from None
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError):
            raise NoAnswer(f"{path}: no answer after sending") from None
        except httpx.HTTPError as exc:
            raise NotSent(f"{path}: HTTP error ({type(exc).__name__})") from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise NotSent(f"{path}: HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise Refused(-2, f"HTTP {resp.status_code}", path)
        try:
            data = resp.json()
        except ValueError:
            raise NoAnswer(f"{path}: HTTP 200 without a JSON answer") from None
        if not isinstance(data, dict):
            raise NoAnswer(f"{path}: HTTP 200 without a JSON object")
        code = data.get("errcode", 0)
        try:
            code = int(code)
        except (TypeError, ValueError):
            raise NoAnswer(f"{path}: errcode {code!r} is not a number") from None
        if code != 0:
            raise Refused(code, str(data.get("errmsg", ""))[:200], path)
        return data

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        """A call with the access token; a token the vendor refused is replaced and the
        call made once more (it was refused before it did anything)."""
        assert self.tokens is not None
        for attempt in (1, 2):
            token = self.tokens.get()
            try:
                return self.request(
                    method,
                    path,
                    params={**(params or {}), "access_token": token},
                    json_body=json_body,
                    files=files,
                )
            except Refused as exc:
                if exc.code not in TOKEN_CODES or attempt == 2:
                    raise
                self.tokens.invalid(token)
        raise AssertionError("unreachable")


def httpx_json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
