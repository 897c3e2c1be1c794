"""The channel contract: a new robot vendor is one module, its templates and one registration
line (``tests/plugin_channel.py``), with no change to the core."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from publisher.channel import REGISTRY, channel_types, register_channel
from publisher.clock import ManualClock
from publisher.config import load_settings
from publisher.errors import ConfigError, ErrorSet
from publisher.service.app import Publisher

from .helpers import START, approve, notice_text

CONFIG = """\
site: {{name: 测试大学信息公开网, school_name: 测试示范大学}}
store: {{url: "sqlite:///var/test.db"}}
review: {{reviewers: [{{name: 李明}}]}}
channels:
  - name: echo-robot
    type: echo
    options: {{webhook_url: "https://echo.example.edu.cn/hook?key=${{ECHO_KEY}}"{extra}}}
routes: [{{categories: all, channels: [echo-robot]}}]
server: {{enabled: false}}
"""


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "echo", "tests.plugin_channel:EchoChannel")
    monkeypatch.setenv("ECHO_KEY", "echo-secret-key-42")


def site(root: Path, extra: str = "") -> Path:
    (root / "items").mkdir()
    (root / "items" / "n1.md").write_text(notice_text("n1"), "utf-8")
    (root / "config.yaml").write_text(CONFIG.format(extra=extra), "utf-8")
    return root / "config.yaml"


def test_a_channel_from_outside_the_core_publishes_and_withdraws(
    tmp_path: Path, echo: None
) -> None:
    requests: list[httpx.Request] = []

    def robot(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200)

    settings = load_settings(site(tmp_path))
    app = Publisher(settings, clock=ManualClock(START), transport=httpx.MockTransport(robot))
    with app:
        app.sync()
        approve(app, "n1")
        tick = app.tick()
        assert tick.channels["echo-robot"].outcomes == {"sent": 1}
        # its own template, found beside its module
        assert requests[0].content.decode() == "【测试大学信息公开网】测试示范大学招生章程\n摘要。"
        assert requests[0].url.params["key"] == "echo-secret-key-42"
        preview = app.preview("n1", "echo-robot")
        assert preview[0].text().startswith("【测试大学信息公开网】")
        app.withdraw("n1", "更正", actor="李明")  # the contract says it announces withdrawals
        app.tick()
        assert requests[-1].content.decode().startswith("已撤回：测试示范大学招生章程")
        status = {s.name: s for s in app.status()}["echo-robot"]
        assert status.counts == {"sent": 2} and "echo-secret-key-42" not in repr(status)


def test_the_registry_validates_a_new_channels_options(tmp_path: Path, echo: None) -> None:
    with pytest.raises((ConfigError, ErrorSet)) as bad:
        load_settings(site(tmp_path, extra=", retries: 3"))
    assert "retries" in str(bad.value)


def test_an_unknown_type_lists_the_registered_ones(tmp_path: Path) -> None:
    register_channel("echo2", "tests.plugin_channel:EchoChannel")
    try:
        assert "echo2" in channel_types()
        (tmp_path / "items").mkdir()
        (tmp_path / "config.yaml").write_text(
            CONFIG.format(extra="").replace("type: echo", "type: echoo"), "utf-8"
        )
        with pytest.raises((ConfigError, ErrorSet)) as bad:
            load_settings(tmp_path / "config.yaml")
        assert "echo2" in str(bad.value) and "wecom" in str(bad.value)
    finally:
        REGISTRY.pop("echo2")
