"""The import rules of docs/ARCHITECTURE.md, checked on the source (ast, every import at any
depth, those under ``if TYPE_CHECKING:`` included)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from .helpers import ROOT

# what a channel implementation may use of the core: the contract and the leaf modules
CHANNEL_MAY_IMPORT = {
    "publisher.channel",
    "publisher.model",
    "publisher.errors",
    "publisher.text",
    "publisher.output",
    "publisher.secrets",
}


def modules(package: str) -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every module ``name`` imports, absolute, with the line."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:  # `from . import x` / `from .store import backup`
                yield f"{target}.{alias.name}", node.lineno


def graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    known: dict[str, Path] = {}
    for p in packages:
        known.update(modules(p))
    edges: dict[str, set[str]] = {m: set() for m in known}
    for name, path in known.items():
        for target, _ in imports(name, path):
            if target in known and target != name:
                edges[name].add(target)
    return edges


def test_the_core_never_imports_a_channel_module() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for name, path in modules("publisher").items()
        for target, line in imports(name, path)
        if target == "channels" or target.startswith("channels.")
    ]
    assert bad == [], "the core reaches channels only through the registry:\n" + "\n".join(bad)


def test_channels_use_only_the_contract_and_leaf_modules() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for name, path in modules("channels").items()
        for target, line in imports(name, path)
        if target.startswith("publisher")
        and target not in CHANNEL_MAY_IMPORT
        and not any(target.startswith(m + ".") for m in CHANNEL_MAY_IMPORT)
    ]
    assert bad == [], "\n".join(bad)


def test_sql_lives_in_the_store() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for package in ("publisher", "channels")
        for name, path in modules(package).items()
        if not name.startswith("publisher.store")
        for target, line in imports(name, path)
        if target.split(".")[0] in ("sqlalchemy", "alembic", "psycopg", "sqlite3")
    ]
    assert bad == [], "queries belong in publisher/store:\n" + "\n".join(bad)


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    # a package and the modules inside it are one unit for this rule: publisher.delivery.engine's
    # __init__ importing its own parts is how a package is built, not a cycle between concepts
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges[m]):
            if n.startswith(m + ".") or m.startswith(n + "."):
                continue
            if state.get(n) == 1:
                cycles.append([*stack[stack.index(n) :], n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    return cycles


def test_no_import_cycles() -> None:
    cycles = find_cycles(graph(("publisher", "channels")))
    assert cycles == [], "\n".join(" → ".join(c) for c in cycles)


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    """The checker itself: a core module importing a channel and a cycle are both found."""
    (tmp_path / "a.py").write_text("from channels.rss import RssChannel\nfrom . import b\n")
    found = list(imports("publisher.a", tmp_path / "a.py"))
    assert ("channels.rss", 1) in found and ("publisher.b", 2) in found
    # the engine ↔ messages cycle this layout removed would be found
    edges = {"p.engine": {"p.messages"}, "p.messages": {"p.engine"}, "p.engine.x": {"p.engine"}}
    assert find_cycles(edges) == [["p.engine", "p.messages", "p.engine"]]


LEAVES = {
    "publisher.model",
    "publisher.errors",
    "publisher.secrets",
    "publisher.text",
    "publisher.output",
    "publisher.clock",
    "publisher.mediatypes",
}


def test_leaves_and_the_contract_stand_on_leaves_only() -> None:
    core = modules("publisher")
    bad = [
        f"{core[name].relative_to(ROOT)}:{line} imports {target}"
        for name in sorted(LEAVES | {"publisher.channel"})
        for target, line in imports(name, core[name])
        if target in core and target != name and target not in LEAVES
    ]
    assert bad == [], "\n".join(bad)
