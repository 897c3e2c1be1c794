"""The wheel carries everything an installed copy needs: templates, catalogue, migrations."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .helpers import ROOT


@pytest.mark.slow
def test_wheel_contains_templates_data_and_migrations(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("disclosure_publisher-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for tpl in (ROOT / "templates").rglob("*"):
        if tpl.is_file():
            assert f"publisher/_templates/{tpl.relative_to(ROOT / 'templates')}" in names
    assert "publisher/data/checklist.csv" in names
    assert "publisher/data/starter/config.yaml" in names
    assert "publisher/store/migrations/versions/0001_initial.py" in names
    assert "publisher/store/migrations/env.py" in names
    for package in ("publisher", "channels"):
        for src in (ROOT / package).rglob("*.py"):
            assert src.relative_to(ROOT).as_posix() in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "publisher = publisher.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
