"""The two official WeChat channels against loopback fakes of their documented APIs:
企业微信 app messages (``wecom_app``: msgid kept, recall on withdrawal, a correction after
24 h, tokens refreshed, recipients reported, per-member limits) and 公众号 articles
(``wechat_mp``: publish tasks polled to their end, the article link kept, failures with
WeChat's reason, daily quotas waited out, tokens that expire, deletion on withdrawal,
48001/40164 pausing the channel with what to do)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from publisher.model import DeliveryState

from .helpers import Site, approve
from .test_webhooks import drain
from .wechat_fakes import MpServer, WeComAppServer

APP = """  - name: app
    type: wecom_app
    options:
      api_base: "${APP_BASE}"
      corpid: "${APP_CORPID}"
      corpsecret: "${APP_SECRET}"
      agentid: 1000002
      touser: "@all"
{more}"""

MP = """  - name: mp
    type: wechat_mp
    options:
      api_base: "${MP_BASE}"
      appid: "${MP_APPID}"
      secret: "${MP_SECRET}"
      poll_seconds: 20
{more}"""


def app_block(more: str) -> str:
    # api_base is an address, not a secret: written as is (the fake's port)
    return APP.replace("{more}", more).replace("${APP_BASE}", os.environ["APP_BASE"])


def mp_block(more: str) -> str:
    return MP.replace("{more}", more).replace("${MP_BASE}", os.environ["MP_BASE"])


def add_channel(site: Site, block: str, name: str) -> None:
    """Put a channel beside the others and route 招生考试 (zsks) notices to it."""
    text = site.config.read_text("utf-8")
    text = text.replace("  - name: screen\n", block + "  - name: screen\n", 1)
    text = text.replace("    channels: [group]\n", f"    channels: [group, {name}]\n", 1)
    site.config.write_text(text, "utf-8")


@pytest.fixture
def wecom_app(site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[WeComAppServer]:
    server = WeComAppServer()
    server.now = lambda: site.clock.now().timestamp()
    monkeypatch.setenv("APP_BASE", server.base)
    monkeypatch.setenv("APP_CORPID", server.corpid)
    monkeypatch.setenv("APP_SECRET", server.corpsecret)
    yield server
    server.close()


@pytest.fixture
def mp(site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[MpServer]:
    server = MpServer(lambda: site.clock.now().timestamp())
    monkeypatch.setenv("MP_BASE", server.base)
    monkeypatch.setenv("MP_APPID", server.appid)
    monkeypatch.setenv("MP_SECRET", server.secret)
    yield server
    server.close()


def publish(site: Site, app: Any, nid: str = "n1", **kw: Any) -> None:
    site.write(nid, publish_at=site.clock.now().isoformat(), **kw)
    app.sync()
    approve(app, nid)
    drain(site, app)


def delivery(app: Any, nid: str, channel: str, action: str = "publish") -> Any:
    return next(
        d for d in app.store.deliveries_of(nid) if d.channel == channel and d.action == action
    )


SECRET_BODY = "拟录取名单：王晓（身份证号 520102200001011234）。"


# ------------------------------------------------------------------ 企业微信 app messages


def test_app_message_msgid_kept_and_recalled_on_withdrawal(
    site: Site, wecom_app: WeComAppServer
) -> None:
    add_channel(site, app_block(more=""), "app")
    with site.app() as app:
        publish(site, app, body=SECRET_BODY)
        [sent] = wecom_app.messages
        assert sent.body["msgtype"] == "textcard"
        assert sent.body["enable_duplicate_check"] == 1
        card = sent.body["textcard"]
        assert card["url"].endswith("/notices/n1.html")
        d = delivery(app, "n1", "app")
        assert d.state == DeliveryState.SENT and d.ref == f"msgid:{sent.msgid}"

        site.clock.advance(timedelta(hours=3))
        app.withdraw("n1", reason="含个人身份信息")
        drain(site, app)
        w = delivery(app, "n1", "app", "withdraw")
        assert w.state == DeliveryState.SENT and w.ref == f"recalled:{sent.msgid}"
    assert sent.recalled and wecom_app.shown() == []
    assert len(wecom_app.messages) == 1  # a recall, no extra message


def test_app_message_past_24_hours_gets_a_correction(site: Site, wecom_app: WeComAppServer) -> None:
    add_channel(site, app_block(more="      msgtype: text\n"), "app")
    with site.app() as app:
        publish(site, app, body=SECRET_BODY)
        site.clock.advance(timedelta(hours=25))
        app.withdraw("n1", reason="含个人身份信息")
        drain(site, app)
    first, correction = wecom_app.messages
    assert not first.recalled  # too late to recall: the vendor would refuse
    text = correction.body["text"]["content"]
    assert "【撤回】" in text and "含个人身份信息" in text and "/notices/n1.html" in text
    assert "520102" not in text and "拟录取名单" not in text  # never the withdrawn text
    recalls = [c for c in wecom_app.calls if c[0] == "/cgi-bin/message/recall"]
    assert recalls == []  # not even asked: the channel knew the window had passed


def test_refused_recall_falls_back_to_a_correction(site: Site, wecom_app: WeComAppServer) -> None:
    add_channel(site, app_block(more=""), "app")
    with site.app() as app:
        publish(site, app)
        wecom_app.messages[0].at -= 86_000  # the vendor's clock says it is older
        site.clock.advance(timedelta(hours=1))
        app.withdraw("n1", reason="内容有误")
        drain(site, app)
        w = delivery(app, "n1", "app", "withdraw")
    assert len(wecom_app.messages) == 2
    assert wecom_app.messages[1].body["textcard"]["title"].startswith("【撤回】")
    assert w.state == DeliveryState.SENT and "correction sent" in w.last_error


def test_app_token_refreshed_when_invalidated(site: Site, wecom_app: WeComAppServer) -> None:
    add_channel(site, app_block(more=""), "app")
    with site.app() as app:
        publish(site, app, "n1")
        wecom_app.invalidate_tokens()  # the vendor drops the token early (40014)
        publish(site, app, "n2", title="第二条招生通知")
        site.clock.advance(timedelta(hours=2, minutes=1))  # and this one expires (42001)
        publish(site, app, "n3", title="第三条招生通知")
    assert len(wecom_app.messages) == 3
    assert [c[0] for c in wecom_app.calls].count("/cgi-bin/gettoken") == 3


def test_app_reports_unknown_recipients_and_pauses_when_none_is_valid(
    site: Site, wecom_app: WeComAppServer
) -> None:
    add_channel(site, app_block(more="").replace('"@all"', "zhangsan|nobody"), "app")
    with site.app() as app:
        publish(site, app)
        d = delivery(app, "n1", "app")
        assert d.state == DeliveryState.SENT
        assert "invaliduser nobody" in d.last_error
        assert wecom_app.messages[0].recipients == ["zhangsan"]
    wecom_app.members = ("lisi",)  # zhangsan left the school
    with site.app() as app:
        publish(site, app, "n2", title="第二条招生通知")
        status = {s.name: s for s in app.status()}["app"]
    assert "81013" in status.paused and "recipients" in status.paused


def test_app_untrusted_ip_pauses_with_what_to_do(site: Site, wecom_app: WeComAppServer) -> None:
    add_channel(site, app_block(more=""), "app")
    wecom_app.trusted_ip = False
    with site.app() as app:
        publish(site, app)
        status = {s.name: s for s in app.status()}["app"]
    assert "60020" in status.paused and "企业可信IP" in status.paused
    assert wecom_app.corpsecret not in status.paused


def test_app_keeps_within_the_members_limits(site: Site, wecom_app: WeComAppServer) -> None:
    add_channel(site, app_block(more=""), "app")
    with site.app() as app:
        for i in range(45):
            site.write(
                f"b{i:02d}", title=f"第{i}号招生通知", publish_at=site.clock.now().isoformat()
            )
        app.sync()
        for i in range(45):
            approve(app, f"b{i:02d}")
        start = site.clock.now()
        drain(site, app)
        took = (site.clock.now() - start).total_seconds()
    assert len(wecom_app.messages) == 45
    assert wecom_app.dropped == 0  # the vendor drops the excess silently: none was
    assert took >= 60  # 30 a minute: the last 15 waited for the window


@pytest.mark.parametrize("msgtype", ["markdown", "text"])
def test_app_long_text_split_within_2048_bytes(
    site: Site, wecom_app: WeComAppServer, msgtype: str
) -> None:
    add_channel(site, app_block(more=f"      msgtype: {msgtype}\n"), "app")
    body = "\n\n".join(f"第{i}段：" + "招生复试工作安排说明。" * 12 for i in range(30))
    body += "\n\n| 姓名 | 学院 |\n|---|---|\n| 王晓 | 文学院 |\n"
    with site.app() as app:
        publish(site, app, body=body)
        d = delivery(app, "n1", "app")
    parts = wecom_app.messages
    assert len(parts) > 1 and d.state == DeliveryState.SENT
    assert d.ref.splitlines() == [f"msgid:{m.msgid}" for m in parts]  # every part recallable
    for i, m in enumerate(parts, 1):
        text = m.body[msgtype]["content"]
        assert len(text.encode()) <= 2048
        assert f"({i}/{len(parts)})" in text.splitlines()[0]
        assert "|---|" not in text  # no table syntax where it is not drawn
        if msgtype == "text":
            assert "##" not in text and "](" not in text


def test_app_options_are_checked(site: Site, wecom_app: WeComAppServer) -> None:
    from publisher.errors import ErrorSet

    add_channel(site, app_block(more="").replace('      touser: "@all"\n', ""), "app")
    with pytest.raises(ErrorSet, match="touser, toparty or totag"):
        site.settings()
    text = site.config.read_text("utf-8").replace(wecom_app.base, "http://qyapi.example.com")
    site.config.write_text(
        text.replace("agentid: 1000002", 'agentid: 1000002\n      touser: "@all"'), "utf-8"
    )
    with pytest.raises(ErrorSet, match="https"):
        site.settings()


# ------------------------------------------------------------------ 公众号 articles


def test_mp_publish_polls_to_success_and_keeps_the_link(site: Site, mp: MpServer) -> None:
    add_channel(site, mp_block(more=""), "mp")
    with site.app() as app:
        site.write("n1", publish_at=site.clock.now().isoformat())
        app.sync()
        approve(app, "n1")
        app.tick()
        d = delivery(app, "n1", "mp")
        assert d.state == DeliveryState.PENDING and '"publish_id"' in d.pending_ref
        assert mp.published() == []  # 发布中
        drain(site, app)
        d = delivery(app, "n1", "mp")
    assert d.state == DeliveryState.SENT and d.pending_ref == ""
    [article] = mp.published()
    assert json.loads(d.ref)["url"] == article["url"]
    draft = article["draft"]
    assert draft["title"] == "测试示范大学招生章程"
    assert draft["content_source_url"].endswith("/notices/n1.html")
    assert "正文第一段" in draft["content"] and "发布部门：招生就业处" in draft["content"]
    cover = Image.open(io.BytesIO(mp.materials[draft["thumb_media_id"]]))
    assert cover.size == (900, 383)
    gets = [c for c in mp.calls if c[0] == "/cgi-bin/freepublish/get"]
    assert 1 <= len(gets) <= 3  # polled, not hammered (30 s task, 20 s polls)


def test_mp_review_refusal_is_a_failure_with_the_reason(site: Site, mp: MpServer) -> None:
    add_channel(site, mp_block(more=""), "mp")
    mp.outcomes = [4]
    with site.app() as app:
        publish(site, app)
        d = delivery(app, "n1", "mp")
    assert d.state == DeliveryState.FAILED
    assert "平台审核不通过" in d.last_error and "fail_idx" in d.last_error
    assert d.pending_ref == ""


def test_mp_daily_quota_waits_for_the_next_day(site: Site, mp: MpServer) -> None:
    add_channel(site, mp_block(more="      quotas: {submit: 2}\n"), "mp")
    mp.quota["submit"] = 2
    site.clock.set(site.clock.now().replace(hour=20))
    with site.app() as app:
        for i in range(3):
            site.write(f"q{i}", title=f"第{i}号招生通知", publish_at=site.clock.now().isoformat())
        app.sync()
        for i in range(3):
            approve(app, f"q{i}")
        drain(site, app)
        states = [delivery(app, f"q{i}", "mp") for i in range(3)]
        status = {s.name: s for s in app.status()}["mp"]
    assert status.quotas["submit"] == (1, 2)  # the new day's count, shown in status
    assert all(d.state == DeliveryState.SENT for d in states)
    assert len(mp.published()) == 3
    assert mp.quota_refusals == 0  # never asked past the quota: 45009 never came
    assert site.clock.now().hour == 0 and site.clock.now().day == 27  # the third waited
    assert all(d.attempts <= 1 for d in states)  # waiting did not use up attempts


def test_mp_token_expiring_mid_run_recovers(site: Site, mp: MpServer) -> None:
    add_channel(site, mp_block(more=""), "mp")
    with site.app() as app:
        publish(site, app, "n1")
        mp.expire_tokens()
        publish(site, app, "n2", title="第二条招生通知")
    assert len(mp.published()) == 2
    assert mp.issued == 2


def test_mp_withdrawal_deletes_the_article(site: Site, mp: MpServer) -> None:
    add_channel(site, mp_block(more=""), "mp")
    with site.app() as app:
        publish(site, app, body=SECRET_BODY)
        assert len(mp.published()) == 1
        app.withdraw("n1", reason="含个人身份信息")
        drain(site, app)
        w = delivery(app, "n1", "mp", "withdraw")
    assert mp.published() == []
    assert w.state == DeliveryState.SENT and "deleted article" in w.ref


def test_mp_on_withdraw_keep_records_and_leaves_it(site: Site, mp: MpServer) -> None:
    add_channel(site, mp_block(more="      on_withdraw: keep\n"), "mp")
    with site.app() as app:
        publish(site, app)
        app.withdraw("n1", reason="到期")
        drain(site, app)
        w = delivery(app, "n1", "mp", "withdraw")
    assert len(mp.published()) == 1 and w.state == DeliveryState.SENT and "kept" in w.ref
    assert not any(c[0] == "/cgi-bin/freepublish/delete" for c in mp.calls)


def test_mp_withdrawn_while_publishing_is_deleted_when_done(site: Site, mp: MpServer) -> None:
    add_channel(site, mp_block(more=""), "mp")
    with site.app() as app:
        site.write("n1", publish_at=site.clock.now().isoformat())
        app.sync()
        approve(app, "n1")
        app.tick()  # submitted: 发布中
        app.withdraw("n1", reason="审核意见有误")
        drain(site, app)
        w = delivery(app, "n1", "mp", "withdraw")
        p = delivery(app, "n1", "mp")
    assert p.state == DeliveryState.CANCELLED
    assert w.state == DeliveryState.SENT
    assert mp.articles and mp.published() == []  # it appeared, and was deleted


def test_mp_unverified_account_pauses_with_what_to_do(site: Site, mp: MpServer) -> None:
    add_channel(site, mp_block(more=""), "mp")
    mp.verified = False
    with site.app() as app:
        publish(site, app)
        status = {s.name: s for s in app.status()}["mp"]
        d = delivery(app, "n1", "mp")
    assert "48001" in status.paused and "微信认证" in status.paused
    assert d.state == DeliveryState.PENDING and d.attempts == 0


def test_mp_ip_not_whitelisted_pauses(site: Site, mp: MpServer) -> None:
    add_channel(site, mp_block(more=""), "mp")
    mp.whitelisted = False
    with site.app() as app:
        publish(site, app)
        status = {s.name: s for s in app.status()}["mp"]
    assert "40164" in status.paused and "IP白名单" in status.paused
    assert mp.secret not in status.paused


def test_mp_draft_only_saves_a_draft(site: Site, mp: MpServer) -> None:
    add_channel(site, mp_block(more="      mode: draft_only\n"), "mp")
    with site.app() as app:
        publish(site, app)
        d = delivery(app, "n1", "mp")
    assert d.state == DeliveryState.SENT and "media_id" in d.ref
    assert len(mp.drafts) == 1 and mp.tasks == {}


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def test_mp_images_reuploaded_and_foreign_ones_dropped(site: Site, mp: MpServer) -> None:
    add_channel(site, mp_block(more=""), "mp")
    (site.root / "items" / "map.png").write_bytes(png(40, 30))
    body = "考场位置见下图。\n\n![考场示意图](map.png)\n\n![外链](https://example.edu.cn/x.png)"
    extra = "attachments:\n  - {title: 考场示意图, file: map.png}"
    with site.app() as app:
        publish(site, app, body=body, extra=extra)
    [article] = mp.published()
    content = article["draft"]["content"]
    srcs = re.findall(r'src="([^"]+)"', content)
    assert srcs and all(s in mp.images for s in srcs)  # WeChat's own copies only
    assert mp.stripped == 0
    assert "［外链］" in content and "example.edu.cn/x.png" not in content


def test_mp_long_title_and_secrets_stay_out(site: Site, mp: MpServer) -> None:
    add_channel(site, mp_block(more=""), "mp")
    title = "关于公布测试示范大学2027年硕士研究生招生考试复试基本分数线及复试录取工作安排的通知"
    with site.app() as app:
        publish(site, app, title=title)
    [article] = mp.published()
    assert len(article["title"]) <= 32 and article["title"].endswith("…")
    assert title in article["draft"]["content"]  # the whole title heads the article
    for path, body in mp.calls:
        assert mp.secret not in json.dumps(body) or path == "/cgi-bin/stable_token"


def test_mp_publishjobfinish_event_ends_the_wait(
    site: Site, mp: MpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from publisher.web.server import Server

    monkeypatch.setenv("MP_CB_TOKEN", "callback-token-abc")
    block = mp_block(more='      callback_token: "${MP_CB_TOKEN}"\n')
    add_channel(site, block.replace("      poll_seconds: 20\n", ""), "mp")
    (site.root / "public").mkdir(exist_ok=True)
    with site.app() as app:
        assert app.takes_vendor_events
        server = Server(
            site.root / "public",
            "127.0.0.1",
            0,
            vendor_event=lambda *a: app.vendor_event(*a)[:2],
        )
        server.start()
        try:
            web = httpx.Client(base_url=server.url)
            site.write("n1", publish_at=site.clock.now().isoformat())
            app.sync()
            approve(app, "n1")
            app.tick()
            d = delivery(app, "n1", "mp")
            assert d.state == DeliveryState.PENDING
            wait = (d.next_attempt_at - site.clock.now()).total_seconds()
            assert wait == 600  # the push will say when it is done: polls are rare
            # the URL check the 公众号 console makes, and a forged push
            ts = str(int(site.clock.now().timestamp()))
            sig = hashlib.sha1("".join(sorted(["callback-token-abc", ts, "n"])).encode())
            query = {"signature": sig.hexdigest(), "timestamp": ts, "nonce": "n"}
            ok = web.get("/hooks/mp", params={**query, "echostr": "12345abc"})
            assert ok.status_code == 200 and ok.text == "12345abc"
            forged = web.post("/hooks/mp", params={**query, "signature": "0" * 40})
            assert forged.status_code == 403
            other = web.get("/hooks/feed", params=query)
            assert other.status_code == 404
            site.clock.advance(timedelta(seconds=31))  # the platform finished
            mp.callback = (f"{server.url}/hooks/mp", "callback-token-abc")
            assert mp.fire_events() == 1
            app.tick()  # at once, not 10 minutes later
            d = delivery(app, "n1", "mp")
        finally:
            server.stop()
    assert d.state == DeliveryState.SENT and "mp.weixin.qq.com" in d.ref
    gets = [c for c in mp.calls if c[0] == "/cgi-bin/freepublish/get"]
    assert len(gets) == 1
