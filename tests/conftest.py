"""Fixtures of the suite; what they are built from is in ``helpers.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .helpers import IN_CI, PG_URL, Site
from .vendors import WeComServer


@pytest.fixture
def wecom(monkeypatch: pytest.MonkeyPatch) -> Iterator[WeComServer]:
    server = WeComServer()
    monkeypatch.setenv("TEST_WECOM_URL", server.url)
    yield server
    server.close()


@pytest.fixture
def site(tmp_path: Path, wecom: WeComServer) -> Site:
    s = Site(tmp_path)
    wecom.now = lambda: s.clock.now().timestamp()  # the robot keeps time with the test
    return s


@pytest.fixture
def make_site(tmp_path: Path, wecom: WeComServer) -> Callable[..., Site]:
    counter = iter(range(1000))

    def make(**kw: object) -> Site:
        s = Site(tmp_path / f"site{next(counter)}", **kw)  # type: ignore[arg-type]
        wecom.now = lambda: s.clock.now().timestamp()
        return s

    return make


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The PostgreSQL test database; under CI=true a missing server fails instead of skipping."""
    try:
        import psycopg

        with psycopg.connect(
            PG_URL.replace("postgresql://", "postgresql://", 1), connect_timeout=3
        ):
            pass
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    return PG_URL


# one Chromium for the whole session, shared by every browser test (defined once, here)
from .browser import browser  # noqa: E402, F401


@pytest.fixture(scope="module")
def shared_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """One site for every example of a property test (a fresh folder per example is slow)."""
    return Site(tmp_path_factory.mktemp("shared"))
