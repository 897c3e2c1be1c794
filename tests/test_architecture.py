"""The import rules of docs/ARCHITECTURE.md, checked on the source: every import at any depth
(inside functions, under ``if TYPE_CHECKING:``), read with ``ast``.

The rules are functions over a tree of files so that each is also shown finding a breach
planted in a scratch tree (the ``test_*_finds_*`` tests at the end): a rule that cannot fail
proves nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .helpers import ROOT

# The layers of the core, lowest first. A unit is a top-level module of ``publisher`` or one
# of its packages; it may import only units of LOWER layers (and its own modules). A new
# module or package must be given a layer here and a line in docs/ARCHITECTURE.md.
LAYERS: list[set[str]] = [
    # leaves: the plugin API's data types and helpers, standing on nothing of ours
    {
        "publisher",
        "publisher.errors",
        "publisher.model",
        "publisher.secrets",
        "publisher.text",
        "publisher.output",
        "publisher.clock",
        "publisher.mediatypes",
    },
    {"publisher.channel", "publisher.templating", "publisher.store"},
    {"publisher.notices"},
    {"publisher.config"},
    {"publisher.review", "publisher.delivery"},
    {"publisher.records"},
    {"publisher.service"},
    {"publisher.web"},
    {"publisher.runtime"},
    {"publisher.cli"},
    {"publisher.__main__"},
]

# what a channel may use of the core: the contract and the leaf modules
CHANNEL_MAY_IMPORT = {
    "publisher.channel",
    "publisher.model",
    "publisher.errors",
    "publisher.text",
    "publisher.output",
    "publisher.secrets",
}
# the one module that may import by name at run time: the channel registry
DYNAMIC_IMPORTS_ALLOWED = {"publisher.channel"}
SQL_LIBRARIES = {"sqlalchemy", "alembic", "psycopg", "sqlite3"}


@dataclass(frozen=True)
class Breach:
    where: str  # file:line
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module below ``root/package``, by dotted name."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str] | None = None) -> Iterator[tuple[str, int]]:
    """Every module ``name`` imports, absolute, with its line. ``from P import x`` is an
    import of the module ``P.x`` when that is a module, else of ``P``."""
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
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if known is None:
                    yield target, node.lineno
                    yield sub, node.lineno
                else:
                    yield (sub if sub in known else target), node.lineno


def dynamic_imports(path: Path) -> Iterator[int]:
    """Lines that import by a name computed at run time (importlib, ``__import__``)."""
    tree = ast.parse(path.read_text("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if called in ("import_module", "__import__", "spec_from_file_location"):
                yield node.lineno
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module in ("importlib", "importlib.util")
            and any(a.name in ("import_module", "spec_from_file_location") for a in node.names)
        ):
            yield node.lineno


def unit_of(module: str) -> str:
    """``publisher.delivery.state`` → ``publisher.delivery``; ``channels.rss.x`` →
    ``channels.rss``; a top-level module is its own unit."""
    return ".".join(module.split(".")[:2])


def rank_of(unit: str) -> int | None:
    for i, layer in enumerate(LAYERS):
        if unit in layer:
            return i
    return None


def layer_breaches(root: Path) -> list[Breach]:
    """A unit of the core imports only units of lower layers; every unit has a layer; the
    core imports no channel."""
    core = modules(root, "publisher")
    known = set(core)
    out = []
    for name, path in core.items():
        here = unit_of(name)
        mine = rank_of(here)
        where = f"{path.relative_to(root)}"
        if mine is None:
            out.append(Breach(where, f"{here} has no layer (add it to LAYERS and ARCHITECTURE.md)"))
            continue
        for target, line in imports(name, path, known):
            if target.split(".")[0] == "channels":
                out.append(Breach(f"{where}:{line}", f"the core imports {target}"))
                continue
            if target not in known:
                continue
            there = unit_of(target)
            if there == here:
                continue
            theirs = rank_of(there)
            if theirs is None or theirs >= mine:
                out.append(Breach(f"{where}:{line}", f"{here} imports {target} (not below it)"))
    return out


def channel_breaches(root: Path) -> list[Breach]:
    """A channel uses only the contract and the leaves of the core, and no other channel
    (what several share lives in ``channels.common``)."""
    found = modules(root, "channels")
    out = []
    for name, path in found.items():
        here = unit_of(name)
        for target, line in imports(name, path, set(found)):
            where = f"{path.relative_to(root)}:{line}"
            top = target.split(".")[0]
            if top == "publisher" and not any(
                target == m or target.startswith(m + ".") for m in CHANNEL_MAY_IMPORT
            ):
                out.append(Breach(where, f"a channel imports {target} (only the contract)"))
            elif top == "channels" and target != "channels":
                there = unit_of(target)
                if there not in (here, "channels.common"):
                    out.append(Breach(where, f"{here} imports another channel: {target}"))
    return out


def dynamic_breaches(root: Path) -> list[Breach]:
    out = []
    for package in ("publisher", "channels"):
        for name, path in modules(root, package).items():
            if name in DYNAMIC_IMPORTS_ALLOWED:
                continue
            for line in dynamic_imports(path):
                out.append(
                    Breach(f"{path.relative_to(root)}:{line}", "an import by a run-time name")
                )
    return out


def sql_breaches(root: Path) -> list[Breach]:
    return [
        Breach(f"{path.relative_to(root)}:{line}", f"SQL outside the store: {target}")
        for package in ("publisher", "channels")
        for name, path in modules(root, package).items()
        if not name.startswith("publisher.store")
        for target, line in imports(name, path)
        if target.split(".")[0] in SQL_LIBRARIES
    ]


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle the depth-first walk meets; a package and its own modules count too."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges.get(m, ())):
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


def graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    known: dict[str, Path] = {}
    for p in packages:
        known.update(modules(root, p))
    edges: dict[str, set[str]] = {m: set() for m in known}
    for name, path in known.items():
        for target, _ in imports(name, path, set(known)):
            if target in known and target != name:
                edges[name].add(target)
    return edges


# ------------------------------------------------------------------ the rules on this tree


def _say(breaches: list[Breach]) -> str:
    return "\n".join(map(str, breaches))


def test_each_layer_imports_only_layers_below() -> None:
    found = layer_breaches(ROOT)
    assert found == [], _say(found)


def test_channels_use_only_the_contract_and_not_each_other() -> None:
    found = channel_breaches(ROOT)
    assert found == [], _say(found)


def test_imports_by_runtime_name_only_in_the_registry() -> None:
    found = dynamic_breaches(ROOT)
    assert found == [], _say(found)


def test_sql_lives_in_the_store() -> None:
    found = sql_breaches(ROOT)
    assert found == [], "queries belong in publisher/store:\n" + _say(found)


def test_no_import_cycles() -> None:
    cycles = find_cycles(graph(ROOT, ("publisher", "channels")))
    assert cycles == [], "\n".join(" → ".join(c) for c in cycles)


def test_the_top_level_stays_small() -> None:
    """publisher/ keeps at most 15 modules beside its packages (the plugin API and a few
    leaves); everything else lives in the package of its stage."""
    top = sorted(p.name for p in (ROOT / "publisher").glob("*.py"))
    assert len(top) <= 15, top


def test_no_function_over_150_lines_no_class_over_500() -> None:
    big = []
    for package in ("publisher", "channels"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    size = (node.end_lineno or node.lineno) - node.lineno + 1
                    limit = 500 if isinstance(node, ast.ClassDef) else 150
                    if size > limit:
                        big.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {size}")
    assert big == [], "\n".join(big)


# ------------------------------------------------------------------ each rule finds a breach


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, "utf-8")
    for d in list(tmp_path.rglob("*")):
        if d.is_dir() and not (d / "__init__.py").exists():
            (d / "__init__.py").write_text("", "utf-8")
    return tmp_path


def test_layer_rule_finds_an_upward_import_under_type_checking(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "publisher/store/base.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from publisher.service.app import Publisher\n"
            ),
            "publisher/service/app.py": "from publisher.store.base import x\n",
            "publisher/newthing.py": "",
        },
    )
    found = _say(layer_breaches(root))
    assert "publisher/store/base.py:3: publisher.store imports publisher.service.app" in found
    assert "publisher.newthing has no layer" in found
    assert "service/app.py" not in found  # downward is fine


def test_cycle_rule_finds_a_package_and_its_own_module(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "publisher/delivery/__init__.py": "from publisher.delivery.engine import Engine\n",
            "publisher/delivery/engine.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from publisher.delivery import Engine\n"
            ),
        },
    )
    cycles = find_cycles(graph(root, ("publisher",)))
    assert ["publisher.delivery", "publisher.delivery.engine", "publisher.delivery"] in cycles


def test_dynamic_rule_finds_importlib_and_dunder_import(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "publisher/records/x.py": "import importlib\nm = importlib.import_module('os')\n",
            "publisher/web/y.py": "m = __import__('os')\n",
            "channels/rss/z.py": "from importlib import import_module\n",
            "publisher/channel.py": "import importlib\nimportlib.import_module('x')\n",
        },
    )
    found = _say(dynamic_breaches(root))
    assert "publisher/records/x.py:2" in found
    assert "publisher/web/y.py:1" in found
    assert "channels/rss/z.py:1" in found
    assert "publisher/channel.py" not in found  # the registry may


def test_channel_rule_finds_another_channels_internals(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "channels/wechat/a.py": (
                "from channels.webhook.bodies import plain\n"
                "from channels.common.fonts import find_fonts\n"
                "from ..signage import fonts\n"
                "from publisher.store import Store\n"
            ),
            "channels/webhook/bodies.py": "",
            "channels/signage/fonts.py": "",
            "channels/common/fonts.py": "",
        },
    )
    found = _say(channel_breaches(root))
    assert "a.py:1: channels.wechat imports another channel: channels.webhook.bodies" in found
    assert "a.py:3: channels.wechat imports another channel: channels.signage" in found
    assert "a.py:4: a channel imports publisher.store" in found
    assert "channels.common" not in found


def test_sql_rule_finds_sqlalchemy_outside_the_store(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"publisher/web/q.py": "def f():\n    import sqlalchemy\n"})
    assert "publisher/web/q.py:2" in _say(sql_breaches(root))
