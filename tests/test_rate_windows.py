"""Rate windows shared through the store: for any interleaving of takes by any number of
instances (and sends that arrive up to the margin late, or end later still), no vendor window
ever holds more than its limit; the database's clock orders takes; status and /metrics show
the windows and every "too fast" reply, and a person is told after N in an hour."""

from __future__ import annotations

import heapq
import itertools
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from publisher.channel import with_margin
from publisher.runtime.monitoring import Passes, metrics, status_row
from publisher.store import Store

from .helpers import Site, approve
from .test_webhooks import drain, robots_config
from .vendors import WeComServer

# (vendor windows, the margin setting): Feishu's two windows, WeCom's, WeCom apps' two
VENDORS = {
    "feishu": [(5, 1.0), (100, 60.0)],
    "wecom": [(20, 60.0)],
    "wecom_app": [(30, 60.0), (1000, 3600.0)],
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("windows") / "w.db"
    s = Store(f"sqlite:///{path}")
    s.ensure_schema(create_empty=True)
    yield s
    s.close()


def vendor_holds(arrivals: list[float], limits: list[tuple[int, float]]) -> bool:
    """No closed window [a, a + W] of the vendor's holds more than its count."""
    arrivals = sorted(arrivals)
    for count, seconds in limits:
        j = 0
        for i, a in enumerate(arrivals):
            while arrivals[j] < a - seconds:
                j += 1
            if i - j + 1 > count:
                return False
    return True


step = st.tuples(
    st.integers(0, 5),  # which instance
    # how long after the previous event it tries: bursts, and gaps that cross windows
    st.one_of(st.just(0.0), st.floats(0, 0.05), st.floats(0, 0.7), st.floats(0, 4)),
    # where in the allowed lateness its request arrives (fraction): the ends matter most
    st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1)),
    st.floats(0, 3),  # how long after arriving its answer ends (the send is done)
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vendor=st.sampled_from(sorted(VENDORS)), steps=st.lists(step, min_size=1, max_size=150))
# five sends that arrive as late as allowed, and a sixth taken the moment the first leaves a
# window of the vendor's length: without the margin the vendor would count six in a second
@example(vendor="feishu", steps=[(0, 0.0, 1.0, 3.0)] * 5 + [(1, 1.0001, 0.0, 0.0)])
def test_no_vendor_window_ever_holds_more_than_its_limit(
    store: Store, vendor: str, steps: list[tuple[int, float, float, float]]
) -> None:
    real = VENDORS[vendor]
    limits = with_margin(real, 0.05)
    late = min(s2 - s1 for (_, s1), (_, s2) in zip(real, limits, strict=True))
    robot = f"prop:{uuid.uuid4().hex[:20]}"
    t = 1_800_000_000.0
    arrivals: list[float] = []
    done: list[tuple[float, int, float]] = []  # (when, order, stamp): sends ending later
    order = itertools.count()
    for _instance, gap, lateness, answer in steps:
        t += gap
        while done and done[0][0] <= t:  # the sends that ended before this take
            when, _, stamp = heapq.heappop(done)
            store.used(robot, stamp, datetime.fromtimestamp(when, UTC))
        taken = store.take(robot, limits, datetime.fromtimestamp(t, UTC))
        if taken.stamp is None:
            continue
        arrival = t + lateness * late  # the request reaches the vendor up to `late` later
        arrivals.append(arrival)
        heapq.heappush(done, (arrival + answer, next(order), taken.stamp))
    assert vendor_holds(arrivals, real)


def test_windows_on_the_database_clock(store: Store) -> None:
    """With no time given, the database's clock decides: a take right after a full window
    is refused whatever the caller's clock says, and free_at is in the database's time."""
    robot = f"db:{uuid.uuid4().hex[:20]}"
    limits = [(2, 60.0)]
    assert store.take(robot, limits).stamp is not None
    assert store.take(robot, limits).stamp is not None
    refused = store.take(robot, limits)
    assert refused.stamp is None and refused.free_at is not None
    wait = (refused.free_at - datetime.now(UTC)).total_seconds()
    assert 55 < wait <= 60.5
    [(used, allowed, seconds)] = store.window_use(robot, limits)
    assert (used, allowed, seconds) == (2, 2, 60.0)


def test_a_token_taken_by_an_instance_that_died_frees_on_time(store: Store) -> None:
    robot = f"dead:{uuid.uuid4().hex[:20]}"
    t0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert store.take(robot, [(1, 60.0)], t0).stamp is not None  # then the instance dies
    assert store.take(robot, [(1, 60.0)], t0.replace(second=59)).stamp is None
    assert store.take(robot, [(1, 60.0)], t0.replace(minute=1, second=1)).stamp is not None


def test_too_fast_replies_shown_and_told_once(
    site: Site,
    wecom: WeComServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ops_server = WeComServer()
    ops_server.now = lambda: site.clock.now().timestamp()
    monkeypatch.setenv("OPS_URL", ops_server.url)
    channels = """  - name: group
    type: wecom
    options: {webhook_url: "${TEST_WECOM_URL}", msgtype: text}
  - name: ops
    type: wecom
    options: {webhook_url: "${OPS_URL}", msgtype: text}
"""
    robots_config(site, channels, delivery="  operator_channel: ops\n")
    # the robot says "too fast" four times (another program shares it, say)
    wecom.behaviour.force = [{"errcode": 45009, "errmsg": "api freq out of limit"}] * 4
    try:
        for i in range(3):
            site.write(f"n{i}", title=f"第{i}号招生通知", publish_at=site.clock.now().isoformat())
        with site.app() as app, caplog.at_level(logging.WARNING):
            for i in range(3):
                approve(app, f"n{i}")
            drain(site, app)
            status = {s.name: s for s in app.status()}["group"]
            scrape = metrics(app, Passes())
        assert status.counts == {"sent": 3}
        assert status.rate_limited_hour == 4 and status.rate_limited_day == 4
        [(_used, allowed, seconds)] = status.windows
        assert allowed == 20 and seconds == pytest.approx(63.0)
        row = status_row(status)
        assert row["rate_limited"] == {"hour": 4, "day": 4}
        assert 'publisher_rate_limit_replies{channel="group",period="hour"} 4.0' in scrape
        assert 'publisher_rate_window_allowed{channel="group",seconds="63"} 20.0' in scrape
        told = [m["text"]["content"] for m in ops_server.received]
        assert len(told) == 1 and "group" in told[0] and "限流" in told[0]  # once, not 2 times
        assert "too fast" in caplog.text
    finally:
        ops_server.close()
