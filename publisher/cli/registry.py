"""What every command module shares: the :class:`Command` record, the ``@command`` decorator of
a group of commands, and the steps from arguments to the service (:func:`open_app`,
:func:`day`).

It imports nothing of ``publisher.cli``: each group module imports it, and ``publisher.cli``
assembles the groups' commands, so no import goes round in a circle.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from publisher.errors import PublisherError

if TYPE_CHECKING:  # imported when a command runs: `publisher --help` stays quick
    from publisher.service.app import Publisher

Handler = Callable[[argparse.Namespace], int]
Arguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    run: Handler
    help: str
    arguments: Arguments


def _no_arguments(p: argparse.ArgumentParser) -> None:
    pass


class CommandGroup:
    """The commands of one module, in the order they are defined (the order of `--help`)."""

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}

    def command(
        self, name: str, help_: str, arguments: Arguments = _no_arguments
    ) -> Callable[[Handler], Handler]:
        """Register a command: its help, its arguments (defined just above it) and its
        handler."""

        def register(fn: Handler) -> Handler:
            if name in self.commands:
                raise ValueError(f"command {name!r} defined twice")
            self.commands[name] = Command(fn, help_, arguments)
            return fn

        return register


def open_app(args: argparse.Namespace) -> Publisher:
    """The service over the config file the command line names."""
    from publisher.config import load_settings
    from publisher.service.app import Publisher

    return Publisher(load_settings(args.config))


def day(value: str, flag: str) -> date:
    """``value`` of option ``flag`` as a day (YYYY-MM-DD)."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PublisherError(f"{flag} {value!r} is not a date (write YYYY-MM-DD)") from None
