"""The documentation keeps up with the code (in the manner of Datasette's ``test_docs.py``):
docs/ARCHITECTURE.md names every package and module of the core and every channel package;
the README or a doc under docs/ names every channel type and every config key, of the core
and of each built-in channel's options.

Each check is a function over the texts, so that it is also shown failing on a planted gap.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from publisher.channel import ENTRY_POINTS, channel_class
from publisher.config import ConfigModel

from .helpers import ROOT

ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"


def built_in_types() -> list[str]:
    """The channel types this project ships (its own entry points; tests register others)."""
    return sorted(
        ep.name for ep in entry_points(group=ENTRY_POINTS) if ep.value.startswith("channels.")
    )


def user_docs() -> str:
    return "\n".join(
        p.read_text("utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    )


def core_parts(root: Path) -> list[tuple[str, str]]:
    """(package or "", module) for every module of the core but migrations and dunders;
    a package's ``__init__`` stands for the package itself (module "")."""
    out = []
    for path in sorted((root / "publisher").rglob("*.py")):
        rel = path.relative_to(root / "publisher")
        if "migrations" in rel.parts or path.name == "__main__.py":
            continue
        package = "/".join(rel.parts[:-1])
        module = "" if path.name == "__init__.py" else path.stem
        if package == "" and module == "":
            continue  # publisher/__init__.py: the version
        out.append((package, module))
    for path in sorted((root / "channels").glob("*/__init__.py")):
        out.append(("channels/" + path.parent.name, ""))
    return out


def unnamed_parts(text: str, parts: list[tuple[str, str]]) -> list[str]:
    """Parts the architecture page does not name. A top-level module is named as
    ``name.py``; a package as ``package/``; a module of a package as ``package/name`` or as
    ``name`` in backticks on a line that names its package."""
    missing = []
    lines = text.splitlines()
    for package, module in parts:
        if not package:
            ok = f"`{module}.py`" in text or (f"`{module}`" in text and f"{module}.py" in text)
        elif not module:
            ok = f"`{package}/`" in text or f"{package}/" in text
        else:
            ok = f"{package}/{module}" in text or any(
                f"{package}/" in line and re.search(rf"`{re.escape(module)}`", line)
                for line in lines
            )
        if not ok:
            missing.append(f"{package}/{module}".strip("/") or module)
    return missing


def config_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key of a config model, nested ones as ``section.key``."""
    keys = []
    for name, f in model.model_fields.items():
        key = f.alias or name
        keys.append(prefix + key)
        for inner in _models(f.annotation):
            keys += config_keys(inner, prefix + key + ".")
    return keys


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models(arg)]


def undocumented_keys(text: str, keys: list[str]) -> list[str]:
    """Keys whose last part appears neither as ``key:`` nor inside backticks as a part of a
    dotted path (`` `key` ``, `` `section.key` ``, `` `key[]` ``) in the docs."""
    out = []
    for full in keys:
        key = re.escape(full.rsplit(".", 1)[-1])
        if not re.search(rf"(`[\w.\[\]]*(?<!\w){key}(?!\w)[\w.\[\]]*`|\b{key}:)", text):
            out.append(full)
    return out


# ------------------------------------------------------------------ the checks on this tree


def test_architecture_names_every_package_and_module() -> None:
    missing = unnamed_parts(ARCHITECTURE.read_text("utf-8"), core_parts(ROOT))
    assert missing == [], "docs/ARCHITECTURE.md does not name: " + ", ".join(missing)


def test_every_channel_type_is_documented() -> None:
    text = (ROOT / "README.md").read_text("utf-8")
    missing = [t for t in built_in_types() if f"type: {t}" not in text and f"`{t}`" not in text]
    assert missing == [], "README.md does not document channel types: " + ", ".join(missing)


def test_every_config_key_is_documented() -> None:
    keys = config_keys(ConfigModel)
    for t in built_in_types():
        keys += config_keys(channel_class(t).Options, f"channels[{t}].options.")
    missing = undocumented_keys(user_docs(), keys)
    assert missing == [], "README.md and docs/ do not document: " + ", ".join(missing)


# ------------------------------------------------------------------ each check finds a gap


def test_the_architecture_check_finds_a_module_left_out(tmp_path: Path) -> None:
    (tmp_path / "publisher" / "delivery").mkdir(parents=True)
    for rel in ("__init__.py", "clock.py", "delivery/__init__.py", "delivery/state.py"):
        (tmp_path / "publisher" / rel).write_text("", "utf-8")
    (tmp_path / "publisher" / "delivery" / "hidden.py").write_text("", "utf-8")
    parts = core_parts(tmp_path)
    text = "| `clock.py` | time |\n| `delivery/` | `state` (builds) |\n"
    assert unnamed_parts(text, parts) == ["delivery/hidden"]


def test_the_config_check_finds_a_key_left_out() -> None:
    class Inner(BaseModel):
        shown: int = 1
        secret_knob: int = 2

    class Outer(BaseModel):
        inner: Inner = Inner()

    keys = config_keys(Outer)
    assert keys == ["inner", "inner.shown", "inner.secret_knob"]
    assert undocumented_keys("inner:\n  shown: 2\n", keys) == ["inner.secret_knob"]
