"""The error tree of disclosure-publisher.

Every error we raise on purpose is a ``PublisherError``; the CLI turns each into one friendly
message and a non-zero exit code, never a traceback::

    PublisherError
    ├── ConfigError              config.yaml is wrong (file, line, field, how to fix)
    ├── NoticeError              one notice file is wrong (file, line, field)
    ├── ErrorSet                 several located problems at once (every one is reported)
    ├── CatalogueError           the 清单 catalogue data is wrong
    ├── ReportError              a report's office-written YAML is wrong, or it cannot be written
    ├── NotFound                 an id, channel or version that does not exist
    ├── ReviewError              the approval gate refused
    │   ├── BlockedByFindings    a blocking lint finding without an explicit --allow
    │   ├── StaleReview          the file changed between `review` and `approve`
    │   ├── NotApproved          a push/preview of a version nobody approved
    │   └── NotAuthorised        a name not on the reviewer roster, or not this OS account's
    ├── AccessDenied             a console login or action refused (password, rate limit, role)
    ├── BadHeartbeat             a screen's heartbeat refused (its HTTP status says why)
    ├── StoreError               the database is unreachable or in the wrong shape
    │   ├── SchemaError          schema missing, older (needs upgrade) or newer than this code
    │   ├── BlobMismatch         stored attachment bytes do not hash to their approved sha256
    │   └── OutputOwned          the output folder was published from another (or a lost) store
    └── ChannelError             a channel cannot be built or used
        ├── UnknownChannelType   a `type:` no registered channel has (lists the valid names)
        ├── ChannelNotConfigured a channel lacks what it needs (an unset ${ENV} secret …)
        └── RenderError          a template failed for a notice

Upstream exceptions (httpx, SQLAlchemy, YAML, pydantic, Jinja) are mapped to these at the module
boundary that talks to the library, so callers only ever handle this tree.
"""

from __future__ import annotations

from collections.abc import Sequence


class PublisherError(Exception):
    """Base of every error this project raises on purpose."""


class Located(PublisherError):
    """An error that points at a place in a file."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        self.hint = hint
        super().__init__(self.describe())

    def describe(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}"
        parts = [p for p in (where, f"field '{self.field}'" if self.field else "") if p]
        text = (": ".join(parts) + ": " if parts else "") + self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(Located):
    """The configuration file is invalid."""


class NoticeError(Located):
    """One notice file is invalid."""


class ErrorSet(PublisherError):
    """Several problems found in one pass; each is reported, none hides the others."""

    def __init__(self, errors: Sequence[Located]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(e.describe() for e in self.errors))


class ReportError(Located):
    """A report cannot be made (the office's YAML file is wrong, the folder is not writable)."""


class CatalogueError(Located):
    """The 清单 catalogue is invalid."""


class NotFound(PublisherError):
    """Something named on the command line or in config does not exist."""


class ReviewError(PublisherError):
    """The approval gate refused an action."""


class BlockedByFindings(ReviewError):
    def __init__(self, rules: Sequence[str], message: str) -> None:
        self.rules = list(rules)
        super().__init__(message)


class StaleReview(ReviewError):
    """The file's content is not the content that was reviewed."""


class NotApproved(ReviewError):
    """A version was asked to go out without an approval."""


class NotAuthorised(ReviewError):
    """Whoever asked may not sign as that reviewer."""


class AccessDenied(PublisherError):
    """A console login or action refused: a wrong password, too many failures, a missing role."""


class BadHeartbeat(PublisherError):
    """A heartbeat from a slideshow player that is refused; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


class StoreError(PublisherError):
    """The store cannot be used."""


class OutputOwned(StoreError):
    """The output folder holds what another store (or a lost one) published; rebuilding it
    from this store would empty or replace the live feeds and pages."""


class BlobMismatch(StoreError):
    """Attachment bytes that do not hash to the sha256 they are filed under."""

    def __init__(self, sha256: str, actual: str, where: str) -> None:
        self.sha256 = sha256
        self.actual = actual
        super().__init__(
            f"attachment bytes {where} hash to {actual[:12]}, not the approved {sha256[:12]}; "
            "they are not published"
        )


class SchemaError(StoreError):
    """The database schema does not match this version of the code."""


class ChannelError(PublisherError):
    """A channel cannot be built or used."""


class UnknownChannelType(ChannelError):
    def __init__(self, name: str, valid: Sequence[str]) -> None:
        self.name = name
        self.valid = sorted(valid)
        super().__init__(f"unknown channel type {name!r}; valid types are: {', '.join(self.valid)}")


class ChannelNotConfigured(ChannelError):
    """The channel is declared but cannot run yet (for example an unset secret)."""


class RenderError(ChannelError):
    """A template could not render a notice."""
