"""Done means, for robots: 500 notices routed to 5 robots of mixed vendors, a 企业微信 app
and a 公众号 all arrive exactly once, in publish order per robot, within the rate limits and
quotas, while one misconfigured robot (a wrong signing secret) is paused and reported and the
others finish."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from .helpers import PAPER_APPROVES, TZ, Site
from .test_webhooks import WHSEC, drain
from .vendors import DingTalkServer, FeishuServer, StandardReceiver, WeComServer
from .wechat_fakes import MpServer, WeComAppServer

N = 500
NOTICE_URL = re.compile(r"/notices/(n\d{3})\.html")

ROBOTS = """  - name: wecom
    type: wecom
    options: {webhook_url: "${WC_URL}"}
  - name: dingtalk
    type: dingtalk
    options: {webhook_url: "${DT_URL}", secret: "${DT_SECRET}", keyword: 信息公开}
  - name: feishu
    type: feishu
    options: {webhook_url: "${FS_URL}", secret: "${FS_SECRET}", keyword: 信息公开}
  - name: hook
    type: webhook
    options: {webhook_url: "${HOOK_URL}", signing_secret: "${HOOK_SECRET}"}
  - name: broken
    type: dingtalk
    options: {webhook_url: "${DT2_URL}", secret: "${DT2_WRONG_SECRET}", keyword: 信息公开}
  - name: app
    type: wecom_app
    options:
      api_base: {APP_BASE}
      corpid: "${APP_CORPID}"
      corpsecret: "${APP_SECRET}"
      agentid: 1000002
      touser: "@all"
  - name: mp
    type: wechat_mp
    options:
      api_base: {MP_BASE}
      appid: "${MP_APPID}"
      secret: "${MP_SECRET}"
      poll_seconds: 20
      quotas: {submit: 600, get: 1500}
"""


@pytest.fixture
def vendors(site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    site.clock.set(datetime.now(TZ).replace(microsecond=0))  # the webhook verifier's time
    clock = lambda: site.clock.now().timestamp()  # noqa: E731
    wc, dt, fs, dt2 = (
        WeComServer(clock),
        DingTalkServer(clock),
        FeishuServer(clock),
        DingTalkServer(clock),
    )
    hook = StandardReceiver(WHSEC)
    app = WeComAppServer()
    app.now = clock
    mp = MpServer(clock)
    mp.quota.update(submit=600, get=1500)  # an established account's quotas
    for robot in (dt, dt2):
        robot.behaviour.secret = "SECright-secret-for-this-robot"
        robot.behaviour.keywords = ("信息公开",)
    fs.behaviour.key = "feishu-hook-token-1234567890"
    fs.behaviour.secret = "feishu-secret-abcdef"
    fs.behaviour.keywords = ("信息公开",)
    env = {
        "WC_URL": wc.url,
        "DT_URL": dt.url,
        "DT_SECRET": dt.behaviour.secret,
        "FS_URL": fs.url,
        "FS_SECRET": fs.behaviour.secret,
        "HOOK_URL": hook.url,
        "HOOK_SECRET": WHSEC,
        "DT2_URL": dt2.url,
        "DT2_WRONG_SECRET": "SECnot-this-one",
        "APP_CORPID": app.corpid,
        "APP_SECRET": app.corpsecret,
        "MP_APPID": mp.appid,
        "MP_SECRET": mp.secret,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    servers = {
        "wecom": wc,
        "dingtalk": dt,
        "feishu": fs,
        "hook": hook,
        "broken": dt2,
        "app": app,
        "mp": mp,
    }
    yield servers
    for s in servers.values():
        s.close()


def ids_in(message: dict[str, Any]) -> list[str]:
    """The notices a message carries, in order (a digest carries several)."""
    found = NOTICE_URL.findall(json.dumps(message, ensure_ascii=False))
    return list(dict.fromkeys(found))


@pytest.mark.slow
def test_500_notices_to_5_robots(site: Site, vendors: dict[str, Any]) -> None:
    text = site.config.read_text("utf-8")
    start, end = text.index("  - name: group"), text.index("  - name: screen")
    robots = ROBOTS.replace("{APP_BASE}", vendors["app"].base)
    text = text[:start] + robots.replace("{MP_BASE}", vendors["mp"].base) + text[end:]
    text = text.replace(
        "    channels: [group]\n",
        "    channels: [wecom, dingtalk, feishu, hook, broken, app, mp]\n",
    )
    text = text.replace("delivery:\n", PAPER_APPROVES + "delivery:\n", 1)
    site.config.write_text(text, "utf-8")
    first = site.clock.now() - timedelta(hours=9)
    when = {f"n{i:03d}": (first + timedelta(minutes=i)).isoformat() for i in range(N)}
    for nid, at in when.items():
        site.write(nid, title=f"第{nid[1:]}号公开事项", publish_at=at)
    with site.app() as app:
        # approved the way the office does it on paper: each review record names the exact
        # version (its hash is not changed by adding the record); the next sync applies it
        from publisher.notices.files import canonical, content_hash

        notices, errors = app.load()
        assert not errors
        for nid, n in notices.items():
            sha = content_hash(canonical(n))
            site.write(
                nid,
                title=n.title,
                publish_at=when[nid],
                extra=f"review: {{reviewer: 李明, date: 2026-11-20, version: {sha[:16]}}}",
            )
        report = app.sync()
        assert len(report.approved) == N
        drain(site, app)
        status = {s.name: s for s in app.status()}
    expected = [f"n{i:03d}" for i in range(N)]
    for name in ("wecom", "dingtalk", "feishu"):
        server = vendors[name]
        got = [nid for m in server.received for nid in ids_in(m)]
        assert got == expected, name  # every notice once, in publish order
        assert server.rate_limited == 0, name  # the vendor never had to refuse us
        assert status[name].counts == {"sent": N}
    hook = vendors["hook"]
    assert [e["data"]["id"] for e in hook.received] == expected
    assert all(count == 1 for count in hook.by_id.values())
    app_server = vendors["app"]
    got = [nid for m in app_server.messages for nid in ids_in(m.body)]
    assert got == expected  # every notice once, in publish order
    assert app_server.dropped == 0 and app_server.duplicates == 0
    assert status["app"].counts == {"sent": N}
    mp = vendors["mp"]
    articles = sorted(mp.published(), key=lambda a: a["draft"]["content_source_url"])
    got = [nid for a in articles for nid in ids_in(a["draft"])]
    assert got == expected  # one article per notice
    assert mp.quota_refusals == 0 and len(mp.tasks) == N  # no 45009, no second submit
    assert status["mp"].counts == {"sent": N}
    assert vendors["broken"].received == []
    assert "sign not match" in status["broken"].paused
    assert status["broken"].counts == {"pending": N}
