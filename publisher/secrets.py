"""Secrets: values that came from ``${ENV}`` references. Resolved in one place, never shown in
repr/str, and scrubbed from every log line, error and page by :func:`redact` (each revealed
value is remembered for that)."""

from __future__ import annotations

import logging
import os
import re
import threading

_secret_values: set[str] = set()
_secret_lock = threading.Lock()


class Secret:
    """A value that came from a ``${ENV}`` reference. Its text never shows in repr/str.

    Every revealed value is remembered so :func:`redact` can scrub it from any log line
    or error message, whatever path the text took to get there.
    """

    __slots__ = ("_value", "env")

    def __init__(self, value: str, env: str = "", register: bool = True) -> None:
        self._value = value
        self.env = env
        if register and len(value) >= 4:
            with _secret_lock:
                _secret_values.add(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(${{{self.env}}})" if self.env else "Secret(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


_URL_SECRET_PARAM = re.compile(
    r"(?P<k>(?:key|access_token|token|secret|sign|password)=)(?P<v>[^&\s\"'#]+)", re.I
)


def redact(text: str) -> str:
    """Replace every known secret and every credential-looking URL parameter in ``text``."""
    with _secret_lock:
        values = sorted(_secret_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, "…" + value[-4:] if len(value) > 12 else "***")

    def mask(m: re.Match[str]) -> str:
        value = m["v"]
        if value.startswith("…") or value == "***":  # already redacted above
            return m[0]
        return m["k"] + ("…" + value[-4:] if len(value) > 12 else "***")

    return _URL_SECRET_PARAM.sub(mask, text)


class RedactingFilter(logging.Filter):
    """Scrubs secrets from every log record it sees (attach to handlers, and to the loggers of
    libraries that log URLs, such as httpx)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def secret_from_config(value: object, environ: dict[str, str] | None = None) -> Secret:
    """Resolve ``${ENV}`` references in a config string into a :class:`Secret`.

    An unset variable does not fail here: the secret is *missing* and the channel that needs
    it reports itself as not configured, naming the variable, while everything else runs.
    """
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a string, usually with a ${ENV_VAR} reference")
    env = os.environ if environ is None else environ
    names = _ENV_REF.findall(value)
    missing = [n for n in names if not env.get(n)]
    if missing:
        return MissingSecret(missing)
    resolved = _ENV_REF.sub(lambda m: env[m[1]], value)
    if not names:  # a secret written into the file itself: all of it is secret
        return Secret(resolved)
    # only the environment values are secret: a URL then shows as ...send?key=…abcd, with its
    # host and path still readable in logs and status output
    for n in names:
        Secret(env[n], n)
    return Secret(resolved, ",".join(names), register=False)


class MissingSecret(Secret):
    """A secret whose ``${ENV}`` variable is not set."""

    __slots__ = ("names",)

    def __init__(self, names: list[str]) -> None:
        super().__init__("", ",".join(names))
        self.names = names

    def reveal(self) -> str:
        raise LookupError(f"environment variable {self.env} is not set")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MissingSecret) and other.names == self.names

    def __hash__(self) -> int:
        return hash(tuple(self.names))


def expand_env(value: str, where: str) -> str:
    """Expand ``${VAR}`` in a setting that is not itself a secret (the store URL): resolved
    like every other reference, the values still redacted; an unset variable is an error."""
    if not _ENV_REF.search(value):
        return value
    resolved = secret_from_config(value)
    if isinstance(resolved, MissingSecret):
        raise ValueError(
            f"environment variable {' and '.join(resolved.names)} is not set (used in {where})"
        )
    return resolved.reveal()
