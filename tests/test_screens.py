"""Slideshow players: heartbeats checked like any input from the network, screen health in
status and /metrics, an operator told when a screen falls silent in its hours, and the
proof-of-play log exported."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.errors import BadHeartbeat
from publisher.runtime.monitoring import Passes, metrics, status_document
from publisher.service.screens import MAX_BODY, MIN_INTERVAL

from .helpers import Site, approve
from .vendors import WeComServer


def beat(**kw: Any) -> bytes:
    body = {
        "screen": "lobby-1",
        "channel": "screen",
        "profile": "landscape",
        "version": "",
        "slide": "n1:1",
        "width": 1920,
        "height": 1080,
        "plays": [],
    }
    body.update(kw)
    return json.dumps(body).encode()


def hours(site: Site, extra: str) -> None:
    text = site.config.read_text("utf-8")
    old = "        - {name: landscape, width: 1920, height: 1080, outputs: [html, manifest]}\n"
    new = (
        "        - {name: landscape, width: 1920, height: 1080, outputs: [html, manifest],"
        f" {extra}}}\n"
    )
    site.config.write_text(
        text.replace(old, new).replace("delivery:\n", "delivery:\n  operator_channel: group\n"),
        "utf-8",
    )


def test_a_heartbeat_is_recorded_with_what_the_screen_showed(site: Site) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        version = app.screens.current(
            app.screens.record(beat(screen="probe"), "10.0.0.9")
        )  # what the player should play: the current bundle
        assert version and len(version) == 16
        shown = [["n1", 1, 30.0, 12.5], ["n1", 2, 17.5, 12.0]]
        app.screens.record(beat(version=version, plays=shown), "10.0.0.8")
        [h] = [h for h in app.screens.health() if h.screen.screen == "lobby-1"]
        assert h.screen.version == version and h.up_to_date and not h.silent
        assert h.screen.address == "10.0.0.8" and (h.screen.width, h.screen.height) == (1920, 1080)
        now = site.clock.now()
        rows = list(
            csv.reader(
                io.StringIO(app.screens.plays_csv(now.date() - timedelta(1), now.date())[1:])
            )
        )
        assert rows[0][:3] == ["shown_at", "screen", "channel"]
        # dated by the server's clock from "seconds ago": the player's own clock never counts
        assert [r[0] for r in rows[1:]] == [
            (now - timedelta(seconds=30)).isoformat(timespec="seconds"),
            (now - timedelta(seconds=17.5)).isoformat(timespec="seconds"),
        ]
        assert [(r[1], r[5], r[6], r[7]) for r in rows[1:]] == [
            ("lobby-1", "n1", "1", "12.5"),
            ("lobby-1", "n1", "2", "12"),
        ]
        doc = status_document(app)
        assert doc["screens"][0]["screen"] == "lobby-1" or doc["screens"][1]["screen"] == "lobby-1"
        text = metrics(app, Passes())
        assert 'publisher_screen_last_heartbeat_timestamp_seconds{channel="screen"' in text
        labels = f'screen="lobby-1",up_to_date="true",version="{version}"'
        assert f"publisher_screen_version_info{{{labels}}} 1.0" in text


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"not json", 400, "not JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (beat(screen="../etc/passwd"), 400, "screen"),
        (beat(screen="x" * 65), 400, "screen"),
        (beat(screen="大厅\u200b屏"), 400, "screen"),  # an invisible character
        (beat(screen="大厅 屏"), 400, "screen"),
        (beat(screen="lobby-1\n"), 400, "screen"),  # "$" would let a final newline pass
        (beat(plays=[["n1\n", 1, 5, 5]]), 400, "notice id"),
        (beat(channel="feed"), 400, "channel"),
        (beat(profile="portrait"), 400, "profile"),
        (beat(version="<script>"), 400, "version"),
        (beat(width=-1), 400, "width"),
        (beat(width=True), 400, "width"),
        (beat(plays=[["n1", 1, 5]]), 400, "plays[0]"),
        (beat(plays=[["<b>", 1, 5, 5]]), 400, "notice id"),
        (beat(plays=[["n1", 1, -5, 5]]), 400, "seconds ago"),
        (beat(plays=[["n1", 1, 5, 5]] * 501), 400, "at most 500"),
        (b"{" + b" " * MAX_BODY + b"}", 413, "bytes"),
        (b"[" * 30000 + b"]" * 30000, 413, "bytes"),
        (b'{"plays": ' + b"[" * 16000 + b"]" * 16000 + b"}", 400, "nested"),
    ],
)
def test_a_bad_heartbeat_is_refused_and_says_why(
    site: Site, body: bytes, status: int, words: str
) -> None:
    with site.app() as app:
        with pytest.raises(BadHeartbeat) as err:
            app.screens.record(body, "10.0.0.8")
        assert err.value.status == status and words in str(err.value)
        assert app.store.screens() == []


KEYS = ["screen", "channel", "profile", "version", "slide", "width", "height", "plays", "key"]
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda c: st.lists(c, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), JSONISH))
def test_any_json_is_answered_with_a_heartbeat_or_a_clear_refusal(
    shared_site: Site, body: dict[str, Any]
) -> None:
    with shared_site.app() as app:
        try:
            screen = app.screens.record(json.dumps(body).encode(), "10.0.0.8")
        except BadHeartbeat as exc:
            assert exc.status in (400, 403, 413, 429) and str(exc)
        else:  # only what passed every check is stored
            assert screen.channel == "screen" and screen.profile == "landscape"


def test_the_slide_a_screen_reports_is_kept_without_invisible_characters(site: Site) -> None:
    with site.app() as app:
        app.screens.record(beat(slide="n1:1\u202e\u200b\x07"), "10.0.0.8")
        assert [s.slide for s in app.store.screens()] == ["n1:1"]


def test_a_screen_may_have_a_chinese_name(site: Site) -> None:
    with site.app() as app:
        app.screens.record(beat(screen="图书馆大厅-1"), "10.0.0.8")
        assert [s.screen for s in app.store.screens()] == ["图书馆大厅-1"]


def test_beats_too_often_and_too_many_screens_are_refused(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    with site.app() as app:
        app.screens.record(beat(), "10.0.0.8")
        with pytest.raises(BadHeartbeat) as err:
            app.screens.record(beat(), "10.0.0.8")
        assert err.value.status == 429 and f"{MIN_INTERVAL:g} s" in str(err.value)
        monkeypatch.setattr("publisher.service.screens.MAX_SCREENS", 3)
        app.screens.record(beat(screen="b"), "10.0.0.8")
        app.screens.record(beat(screen="c"), "10.0.0.8")
        with pytest.raises(BadHeartbeat) as err:
            app.screens.record(beat(screen="d"), "10.0.0.8")
        assert err.value.status == 429 and "forget" in str(err.value)
        assert len(app.store.screens()) == 3


def test_with_a_key_only_players_that_give_it_are_heard(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCREEN_KEY", "k-3f9a7c1e5d")
    text = site.config.read_text("utf-8")
    anchor = "outputs: [html, manifest]}\n"
    site.config.write_text(
        text.replace(anchor, anchor + '      heartbeat_key: "${SCREEN_KEY}"\n'), "utf-8"
    )
    with site.app() as app:
        for given in ({}, {"key": "wrong"}, {"key": 12}):
            with pytest.raises(BadHeartbeat) as err:
                app.screens.record(beat(**given), "10.0.0.8")
            assert err.value.status == 403 and "k-3f9a7c1e5d" not in str(err.value)
        app.screens.record(beat(key="k-3f9a7c1e5d"), "10.0.0.8")
        assert [s.screen for s in app.store.screens()] == ["lobby-1"]


def test_a_silent_screen_is_told_once_and_only_in_its_hours(site: Site, wecom: WeComServer) -> None:
    hours(site, 'hours: "07:30-22:00"')
    with site.app() as app:
        app.screens.record(beat(), "10.0.0.8")  # 10:00
        site.clock.advance(timedelta(minutes=10))
        assert app.screens.check_silent() == []  # 10 min + one beat of grace: not yet
        site.clock.advance(timedelta(minutes=2))
        assert app.screens.check_silent() == ["lobby-1"]
        told = wecom.received[-1]
        assert "lobby-1" in json.dumps(told, ensure_ascii=False)
        assert "没有心跳" in json.dumps(told, ensure_ascii=False)
        assert [h.silent for h in app.screens.health()] == [True]
        assert app.screens.check_silent() == []  # once per silence
        assert len(wecom.received) == 1
        site.clock.advance(timedelta(minutes=1))
        app.screens.record(beat(), "10.0.0.8")  # back: silence over
        assert [h.silent for h in app.screens.health()] == [False]
        # silent at night is a screen switched off, not a fault
        site.clock.set(site.clock.now().replace(hour=21, minute=55))
        app.screens.record(beat(), "10.0.0.8")
        site.clock.set(site.clock.now().replace(hour=23, minute=30))
        assert app.screens.check_silent() == [] and not app.screens.health()[0].silent
        # the next morning it counts again
        site.clock.set(site.clock.now() + timedelta(hours=9))  # 08:30
        assert app.screens.check_silent() == ["lobby-1"]
        assert len(wecom.received) == 2


def test_the_screens_table_lines_up_with_chinese_names(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    import unicodedata

    from publisher.cli import main

    with site.app() as app:
        app.screens.record(beat(screen="图书馆大厅"), "10.0.0.8")
        app.screens.record(beat(screen="lobby-1"), "10.0.0.8")
    assert main(["--config", str(site.config), "signage", "screens"]) == 0
    lines = capsys.readouterr().out.splitlines()

    def column(line: str, word: str) -> int:  # where ``word`` starts, in terminal columns
        before = line[: line.index(word)]
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in before)

    starts = {column(ln, "landscape") for ln in lines if "landscape" in ln}
    assert len(starts) == 1 and starts == {column(lines[0], "profile")}
