"""Links read as a browser reads them (WHATWG URL standard, via ``ada-url``).

``urllib.parse.urlsplit`` is not what a browser does: it keeps ``https://evil.example\\.gov.cn/``
as one host ending in ``.gov.cn`` where a browser goes to ``evil.example``, and it leaves
upper-case schemes, IDN hosts and ``user@host`` for the caller to get wrong. Here a link is
resolved against the site's own address exactly as a page would resolve it, and judged on the
host the browser would contact.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote

from ada_url import URL, idna_to_ascii, idna_to_unicode

ALLOWED_SCHEMES = ("http:", "https:", "mailto:", "tel:")

# what a browser strips before parsing: leading/trailing C0 controls and spaces; tabs and
# newlines anywhere
_STRIP = re.compile(r"^[\x00-\x20]+|[\x00-\x20]+$")
_TAB_NL = re.compile(r"[\t\n\r]")


def domain_ascii(domain: str) -> str:
    """A configured domain in the form a parsed host has (punycode, lower case, no dot)."""
    domain = domain.strip().lower().strip(".")
    try:
        return idna_to_ascii(domain).decode("ascii") or domain
    except (ValueError, UnicodeError):
        return domain


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in allowed)


@lru_cache(maxsize=4096)
def link_problem(raw: str, base: str, allowed: tuple[str, ...]) -> str | None:
    """Why a browser following ``raw`` (on a page at ``base``) would leave safe ground, or None.

    ``allowed`` holds ASCII domains (see ``domain_ascii``); empty means any host is fine, but
    schemes, user-info and backslashes are still refused.
    """
    text = _TAB_NL.sub("", _STRIP.sub("", raw))
    if not text:
        return None
    if "\\" in text:
        return "a backslash in a link: browsers read it as '/', so the host is not what it seems"
    try:
        url = URL(text, base)
    except ValueError:
        return "not a URL a browser could follow"
    scheme = url.protocol  # lower case, with the colon
    if scheme not in ALLOWED_SCHEMES:
        return f"link with scheme '{scheme}' is not allowed"
    if scheme in ("mailto:", "tel:"):
        return None
    if url.username or url.password:
        return "a user name or password (user@) in a link hides the real host"
    host = url.hostname
    if allowed and not host_allowed(host, allowed):
        return f"link to {host} is outside the allowed domains ({', '.join(allowed)})"
    return None


def host_of(raw: str, base: str) -> str | None:
    """The host a browser would contact for ``raw``, or None (not http(s), or unparsable)."""
    text = _TAB_NL.sub("", _STRIP.sub("", raw))
    try:
        url = URL(text.replace("\\", "/"), base)
    except ValueError:
        return None
    return url.hostname if url.protocol in ("http:", "https:") else None


@lru_cache(maxsize=4096)
def target_text(raw: str) -> str:
    """A link target as a reader may read it: percent-escapes and punycode labels decoded."""
    text = unquote(raw)
    if "xn--" in text.lower():
        try:
            host = URL(text.replace("\\", "/")).hostname
            text = text.replace(host, idna_to_unicode(host))
        except (ValueError, UnicodeError):
            pass
    return text
