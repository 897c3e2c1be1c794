"""What the two WeChat channels' options share: where the API is, and how it is reached."""

from __future__ import annotations

import re

from ada_url import URL
from pydantic import Field, field_validator

from publisher.channel import ChannelOptions

_LOOPBACK = ("localhost", "127.0.0.1", "[::1]", "::1")


class ApiOptions(ChannelOptions):
    # the vendor's address; a test site points it at a loopback fake. Anything but https://
    # to another machine is refused: the access token travels in the query string.
    api_base: str = ""
    timeout: float = Field(15.0, gt=0, le=60)

    @field_validator("api_base")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value:
            return value
        try:
            url = URL(value.strip())
        except ValueError:
            raise ValueError("api_base is not a URL (write https://…)") from None
        if url.protocol == "https:":
            return value.strip()
        if url.protocol == "http:" and url.hostname in _LOOPBACK:
            return value.strip()
        raise ValueError("api_base must be https:// (http:// only to this machine, for tests)")


def split_names(value: object) -> object:
    """``a|b`` or ``[a, b]`` → a list of names (the vendor joins them with |)."""
    if isinstance(value, str):
        return [v for v in re.split(r"[|,\s]+", value) if v]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, list):
        return [str(v) for v in value]
    return value
