from __future__ import annotations

from pathlib import Path

import pytest

from publisher.channel import channel_types
from publisher.config import load_settings, parse_duration, parse_settings
from publisher.errors import ConfigError, ErrorSet
from publisher.secrets import MissingSecret, redact
from publisher.service.app import Publisher

from .helpers import ROOT


def parse(text: str, tmp_path: Path) -> object:
    return parse_settings(text, tmp_path / "config.yaml")


def problems(text: str, tmp_path: Path) -> list[ConfigError]:
    with pytest.raises((ErrorSet, ConfigError)) as info:
        parse(text, tmp_path)
    exc = info.value
    return list(exc.errors) if isinstance(exc, ErrorSet) else [exc]  # type: ignore[list-item]


SITE = "site:\n  name: 站点\n  school_name: 测试示范大学\n"


def test_sample_config_is_valid() -> None:
    s = load_settings(ROOT / "config.yaml")
    assert set(s.channels) == {"feed", "office-group", "lobby"}
    assert s.tz.key == "Asia/Shanghai"
    assert s.store_url.startswith("sqlite:////")  # resolved against the config's folder
    assert s.items_dir == ROOT / "items"


def test_unknown_setting_names_line_and_field(tmp_path: Path) -> None:
    errs = problems(SITE + "store:\n  uri: sqlite:///x.db\n", tmp_path)
    assert len(errs) == 1
    assert errs[0].line == 5 and errs[0].field == "store.uri"
    assert "unknown setting" in errs[0].describe()


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        SITE
        + """\
channels:
  - name: feed
    type: rsss
  - name: group
    type: wecom
    options:
      webhok_url: x
routes:
  - categories: [nosuch]
    channels: [feed, ghost]
schedules:
  - name: t
    cron: "61 * * * *"
"""
    )
    errs = problems(text, tmp_path)
    by_field = {e.field: e for e in errs}
    assert "rss" in by_field["channels.0.type"].describe()  # lists the valid types
    assert by_field["channels.0.type"].line == 6
    assert by_field["channels.1.options.webhok_url"].line == 10
    assert "channels.1.options.webhook_url" in by_field  # the required key is missing
    assert by_field["routes.0.channels.1"].line == 13
    assert "unknown 清单 category" in by_field["routes.0.categories.0"].describe()
    assert "cron" in by_field["schedules.0.cron"].describe()


def test_unknown_channel_type_lists_valid_names(tmp_path: Path) -> None:
    errs = problems(SITE + "channels:\n  - {name: x, type: telegram}\n", tmp_path)
    for t in channel_types():
        assert t in errs[0].describe()


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    errs = problems(SITE + "channels: [\n  - oops: : :\n", tmp_path)
    assert errs[0].line is not None and errs[0].line >= 4
    assert "malformed YAML" in errs[0].describe()


def test_bad_timezone_and_missing_site(tmp_path: Path) -> None:
    errs = problems("site:\n  name: x\n  school_name: 测试大学\n  timezone: Mars/Base\n", tmp_path)
    assert errs[0].field == "site.timezone" and errs[0].line == 4
    errs = problems("store: {}\n", tmp_path)
    assert errs[0].field == "site" and "required" in errs[0].describe()


def test_missing_env_makes_channel_not_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    s = parse(
        SITE + "channels:\n  - name: g\n    type: wecom\n    options:\n"
        "      webhook_url: https://qyapi.weixin.qq.com/x?key=${NO_SUCH_KEY}\n",
        tmp_path,
    )
    opts = s.channels["g"].options  # type: ignore[attr-defined]
    assert isinstance(opts.webhook_url, MissingSecret)
    app = Publisher(s)
    try:
        reason = app.channels["g"].unavailable()
        assert reason is not None and "NO_SUCH_KEY" in reason and "not set" in reason
    finally:
        app.close()


def test_secret_never_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBOT_KEY", "sk-very-secret-value-123456")
    s = parse(
        SITE + "channels:\n  - name: g\n    type: wecom\n    options:\n"
        "      webhook_url: https://qyapi.weixin.qq.com/x?key=${ROBOT_KEY}\n",
        tmp_path,
    )
    opts = s.channels["g"].options  # type: ignore[attr-defined]
    assert "sk-very-secret" not in repr(opts) and "sk-very-secret" not in str(opts)
    assert opts.webhook_url.reveal().endswith("sk-very-secret-value-123456")
    assert "sk-very-secret" not in redact("error posting to key=sk-very-secret-value-123456")
    assert "sk-very-secret" not in redact("the value sk-very-secret-value-123456 leaked")


def test_durations() -> None:
    assert parse_duration("30s") == 30
    assert parse_duration("5m") == 300
    assert parse_duration("1h") == 3600
    assert parse_duration(12) == 12
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_routes_and_overrides(tmp_path: Path) -> None:
    from dataclasses import replace

    from .helpers import START

    s = parse(
        SITE
        + """\
channels:
  - {name: a, type: rss}
  - {name: b, type: signage}
  - {name: c, type: rss, options: {folder: c}}
routes:
  - {categories: [招生考试信息], channels: [a, b]}
  - {items: [37], channels: [c]}
""",
        tmp_path,
    )
    from publisher.model import Notice

    n = Notice(
        id="x",
        title="t",
        category="zsks",
        item=7,
        department="d",
        summary="",
        body="b",
        publish_at=START,
    )
    assert s.route(n) == ["a", "b"]  # a category name is accepted and resolved to its slug
    assert s.route(replace(n, category="xsgl", item=37)) == ["c"]
    assert s.route(replace(n, channels=("-b", "+c"))) == ["a", "c"]
    assert s.route(replace(n, channels=("c",))) == ["c"]
    assert s.route(replace(n, category="qt", item=50)) == []


def test_a_recursive_alias_in_the_config_is_an_error_not_a_hang(tmp_path: Path) -> None:
    text = "site: {name: 站, school_name: 测试示范大学}\nroutes: &r [*r]\n"
    with pytest.raises(ConfigError, match="refers to itself") as info:
        parse_settings(text, tmp_path / "config.yaml")
    assert info.value.line == 2
    # ordinary anchors stay usable in the config (the office's own file)
    ok = "site: &s {name: 站, school_name: 测试示范大学}\nstore: {url: 'sqlite:///x.db'}\n"
    assert parse_settings(ok, tmp_path / "config.yaml").model.site.name == "站"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx", "written into the"),
        ("https://open.feishu.cn/open-apis/bot/v2/hook/0123abcd", "written into the"),
        ("file:///etc/passwd", "must be an https:// URL"),
        ("qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${K}", "not a URL"),
        ("http://robots.example.edu.cn/send?key=${K}", "travel in clear"),
    ],
)
def test_risky_robot_urls_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.setenv("K", "k-0123456789")
    text = (
        SITE + f"channels:\n  - name: g\n    type: wecom\n    options:\n      webhook_url: {url}\n"
    )
    with pytest.raises(ErrorSet) as info:
        parse(text, tmp_path)
    [problem] = info.value.errors
    assert message in problem.message and problem.line == 8, problem.describe()
    assert "693a91f6" not in problem.describe() and "k-0123456789" not in problem.describe()


def test_http_to_this_machine_or_with_allow_insecure_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K", "k-0123456789")
    for url, extra in (
        ("http://127.0.0.1:9000/send?key=${K}", ""),
        ("http://robots.example.edu.cn/send?key=${K}", "\n      allow_insecure: true"),
    ):
        options = f"      webhook_url: {url}{extra}\n"
        text = SITE + "channels:\n  - name: g\n    type: wecom\n    options:\n" + options
        assert "g" in parse(text, tmp_path).channels


@pytest.mark.parametrize("folder", ["/", "items", "items/out", "."])
def test_an_output_folder_that_would_clobber_is_refused(tmp_path: Path, folder: str) -> None:
    with pytest.raises(ErrorSet, match=r"output\.folder"):
        parse(SITE + f"output: {{folder: {folder}}}\n", tmp_path)


def test_the_operator_channel_keeps_its_old_name(tmp_path: Path) -> None:
    """`delivery.alert_channel` (before it was called operator_channel) still reads, and an
    error names the key the file used."""
    from publisher.config import load_settings

    base = (
        "site: {name: 站, school_name: 测试示范大学}\n"
        "channels:\n  - {name: feed, type: rss}\n"
        '  - {name: ops, type: wecom, options: {webhook_url: "https://qyapi.weixin.qq.com/'
        'cgi-bin/webhook/send?key=${OPS_KEY}"}}\n'
    )
    (tmp_path / "config.yaml").write_text(base + "delivery: {alert_channel: ops}\n", "utf-8")
    assert load_settings(tmp_path / "config.yaml").model.delivery.operator_channel == "ops"
    (tmp_path / "config.yaml").write_text(base + "delivery: {alert_channel: feed}\n", "utf-8")
    with pytest.raises(ErrorSet) as bad:
        load_settings(tmp_path / "config.yaml")
    assert "alert_channel" in str(bad.value) and ":5" in str(bad.value)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${NO_SUCH_KEY}", "not a URL"),
        ("ftp://qyapi.weixin.qq.com/send?key=${NO_SUCH_KEY}", "https://"),
    ],
)
def test_a_webhook_url_is_checked_even_while_its_key_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, words: str
) -> None:
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    [err] = problems(
        SITE + f"channels:\n  - name: g\n    type: wecom\n    options:\n      webhook_url: {url}\n",
        tmp_path,
    )
    assert err.field == "channels.0.options.webhook_url" and words in str(err)
    # a reference alone stays "not configured" until it is set: its shape is unknown
    s = parse(
        SITE + "channels:\n  - name: g\n    type: wecom\n    options:\n"
        "      webhook_url: ${NO_SUCH_KEY}\n",
        tmp_path,
    )
    assert isinstance(s.channels["g"].options.webhook_url, MissingSecret)  # type: ignore[attr-defined]
