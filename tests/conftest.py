"""Fixtures of the suite; what they are built from is in ``helpers.py``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import IN_CI, PG_URL, Site
from .vendors import WeComServer

# Under pytest-xdist `--dist loadfile` (./dev test; README "The fast lane") each file's tests
# run on one worker, one after another. The files named here go first, in units of their own:
# the longest, and those that run four `publisher run` processes or assert a lag of a second,
# which must not starve beside one another on 2 cores.
FIRST_UNITS = {
    "tests/test_soak.py": "soak",  # two soaks of about 2 minutes: robots' windows waited out
    # and a file of quick tests after them: xdist queues one more unit behind a unit of two
    # tests, which would wait for both soaks
    "tests/test_config.py": "soak",
    "tests/test_instances.py": "lag and load",  # four workers on PostgreSQL; lags of 1 s
    "tests/test_build_off_path.py": "lag and load",  # a lag of 1 s beside a 500-slide build
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the longest work is handed out first: FIRST_UNITS, then the files
    with slow tests (those mostly wait: rate windows, subprocesses, timeouts) so that their
    waits overlap the quick tests instead of trailing the run, then the other files, most
    tests first; and slow tests may take twice pytest-timeout's limit. Run serially, the order
    and the limits are pytest's own."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    first = list(FIRST_UNITS)
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    slow = {
        path for path, tests in files.items() if any(t.get_closest_marker("slow") for t in tests)
    }

    def rank(item: pytest.Item) -> tuple[int, bool, int, bool]:
        path = item.nodeid.split("::", 1)[0]
        at = first.index(path) if path in first else len(first)
        most = 0 if path in slow else -len(files[path])
        return at, path not in slow, most, item.get_closest_marker("slow") is None

    items.sort(key=rank)
    limit = float(config.getoption("timeout", None) or config.getini("timeout") or 0)
    for item in items:
        # beside other workers on 2 cores a slow test's waits stretch: twice the time to hang
        if limit and item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(2 * limit))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``, with the files of FIRST_UNITS in the units named there."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return FIRST_UNITS.get(path, path)

    return Scheduling(config, log)


# Tests that assert a lag of about a second. Under pytest-xdist they, and the processes they
# start, run at a higher CPU priority when the suite runs as root (as CI does): on 2 cores the
# tests beside them would otherwise stretch the lag they measure. Run serially, nothing changes.
LAG_TESTS = {
    "test_robot_notice_due_during_a_500_slide_build_leaves_within_a_second",
    "test_two_instances_with_folders_of_their_own_each_keep_theirs_current",
}


@pytest.fixture(autouse=True)
def _lag_tests_go_first_on_the_cpu(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.name not in LAG_TESTS or not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    before = os.getpriority(os.PRIO_PROCESS, 0)
    with contextlib.suppress(PermissionError):  # not root: the plain priority
        os.setpriority(os.PRIO_PROCESS, 0, -10)  # this thread, and what it starts from now on
    try:
        yield
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, before)


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
def pg_url() -> Iterator[str]:
    """The PostgreSQL test database; under CI=true a missing server fails instead of skipping.

    Under pytest-xdist each worker gets a database of its own (``test_gw0``, ...; created on
    first use), since the tests drop and recreate the public schema. A session-level advisory
    lock, held until the worker ends, keeps two parallel runs on one server apart: a name
    another live run holds is passed over for the next (``test_gw0_1``, ...)."""
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            pass
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        yield PG_URL
        return
    from psycopg import sql

    base, _, dbname = PG_URL.rpartition("/")
    dbname, q, query = dbname.partition("?")
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for n in range(50):
            name = f"{dbname}_{worker}" + (f"_{n}" if n else "")
            got = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [name]).fetchone()
            if got and got[0]:
                break
        else:
            pytest.fail(f"no free per-worker PostgreSQL database for {worker}")
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield f"{base}/{name}{q}{query}"  # the lock holds while this connection is open


# one Chromium for the whole session, shared by every browser test (defined once, here)
from .browser import browser  # noqa: E402, F401


@pytest.fixture(scope="module")
def shared_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """One site for every example of a property test (a fresh folder per example is slow)."""
    return Site(tmp_path_factory.mktemp("shared"))
