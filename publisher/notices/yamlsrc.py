"""YAML that remembers where each value came from, so errors can name the line.

Dates are kept as strings (PyYAML's implicit timestamps silently drop or invent zones);
the caller parses them and can say exactly what is wrong. Duplicate keys are an error,
not a silent overwrite. Hostile files are bounded: nesting deeper than ``MAX_DEPTH`` is an
error, and so are aliases where the caller refuses them (notices: a recursive alias such as
``summary: &a [*a, *a]`` would otherwise expand without end).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from publisher.errors import Located

Path_ = tuple[str | int, ...]


MAX_DEPTH = 64


class _Loader(yaml.SafeLoader):
    aliases = True
    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent) and not self.aliases:
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted here", mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class LineMap:
    """Line numbers (1-based, in the file) of every key and list item."""

    def __init__(self, offset: int = 0) -> None:
        self._lines: dict[Path_, int] = {}
        self.offset = offset

    def set(self, path: Path_, line0: int) -> None:
        self._lines[path] = line0 + 1 + self.offset

    def line(self, path: Path_) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self._lines:
                return self._lines[p]
            p = p[:-1]
        return self._lines.get((), None)

    def as_dict(self) -> dict[str, int]:
        return {".".join(str(k) for k in path): line for path, line in self._lines.items()}


def load(
    text: str,
    *,
    file: str,
    error: Callable[..., Located],
    line_offset: int = 0,
    aliases: bool = True,
) -> tuple[Any, LineMap]:
    """Parse ``text``; raise ``error(message, file=, line=, field=)`` on any problem."""
    lines = LineMap(line_offset)
    try:
        loader = _Loader(text)
        loader.aliases = aliases
    except yaml.YAMLError as exc:
        raise error(f"malformed YAML: {exc}", file=file) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines
        _walk(node, (), lines, file, error, active=set())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 + line_offset if mark is not None else None
        problem = exc.problem or str(exc)
        raise error(f"malformed YAML: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise error(f"malformed YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    return data, lines


def _walk(
    node: yaml.Node,
    path: Path_,
    lines: LineMap,
    file: str,
    error: Callable[..., Located],
    own_line: bool = True,
    active: set[int] | None = None,
) -> None:
    active = set() if active is None else active
    if id(node) in active:  # an alias that contains itself
        raise error(
            "an alias refers to itself (a recursive &anchor)",
            file=file,
            line=node.start_mark.line + 1 + lines.offset,
        )
    # a key's own line is more useful than its value's (a block value starts a line later),
    # so values under a key do not overwrite the line recorded for the key
    if own_line:
        lines.set(path, node.start_mark.line)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            if key in seen:
                raise error(
                    f"duplicate key {key!r} (first on line {seen[key]})",
                    file=file,
                    line=key_node.start_mark.line + 1 + lines.offset,
                    field=".".join(str(k) for k in (*path, key)),
                )
            seen[key] = key_node.start_mark.line + 1 + lines.offset
            lines.set((*path, key), key_node.start_mark.line)
            active.add(id(node))
            _walk(value_node, (*path, key), lines, file, error, False, active)
            active.discard(id(node))
    elif isinstance(node, yaml.SequenceNode):
        active.add(id(node))
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, file, error, True, active)
        active.discard(id(node))


def pydantic_loc(loc: tuple[Any, ...]) -> Path_:
    """Turn a pydantic error location into a path usable with :class:`LineMap`."""
    return tuple(p for p in loc if isinstance(p, str | int))
