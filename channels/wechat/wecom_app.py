"""企业微信 应用消息 (``type: wecom_app``): a notice sent by one of the school's WeCom apps to
the staff, departments or tags the site names, and taken back when it is withdrawn.

Unlike a group robot, an app message can be recalled: the ``msgid`` of every message sent is
kept with the delivery, and a withdrawal calls ``message/recall`` while the vendor allows it
(24 hours after sending; ten minutes are kept in hand). After that, or when the recall is
refused, a correction message goes to the same people instead (title, time and reason only).

Rate limits are those of each member: 30 messages a minute and 1,000 an hour (the vendor
drops what exceeds them without an error, so they are taken before sending, in the store,
shared by every instance); ``daily_limit`` caps the app's messages per day if the corp's
seat quota requires it.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from channels.common.bodies import plain, without_tables
from channels.common.limits import cut_bytes, nbytes, split
from publisher.channel import ChannelOptions, Payload, SecretValue, with_margin
from publisher.errors import RenderError
from publisher.model import Action, Outcome, PublishedNotice, SentRef

from .api import ApiError, NoAnswer, Refused
from .base import ApiChannel, dumps
from .options import ApiOptions, split_names

TEXT_MAX = 2048  # bytes of text and markdown content
CARD_TITLE_MAX = 128
CARD_DESC_MAX = 512
NEWS_DESC_MAX = 512
RECALL_WINDOW = timedelta(hours=24)
RECALL_MARGIN = timedelta(minutes=10)

# errcode → (seconds to wait, counted) for answers that mean "later"
RETRY_CODES = {-1: (5.0, True), 45009: (60.0, False), 45033: (60.0, False)}
# errcode → what the office must do (the channel pauses)
DISABLED_CODES = {
    40001: "the corpsecret was refused: copy the app's Secret again (应用管理 → 应用 → Secret)",
    40013: "the corpid is wrong (我的企业 → 企业信息 → 企业ID)",
    40056: "the agentid is wrong (应用管理 → 应用 → AgentId)",
    48002: "the API is not allowed for this app",
    60011: "the app may not reach these recipients: widen its 可见范围",
    60020: (
        "this server's IP address is not trusted by the app: add it under 应用管理 → 应用 → "
        "企业可信IP"
    ),
    81013: "none of touser / toparty / totag is valid: check the recipients",
}
CONTENT_CODES = {
    44004: "empty content",
    45002: "message too large",
    40008: "invalid message type",
    40058: "invalid message content",
    82001: "the message's recipients are empty",
}


class WeComAppOptions(ApiOptions):
    corpid: SecretValue
    corpsecret: SecretValue
    agentid: int = Field(ge=1)
    touser: list[str] = Field(default_factory=list)  # member ids, or ["@all"]
    toparty: list[str] = Field(default_factory=list)  # department ids
    totag: list[str] = Field(default_factory=list)  # tag ids
    msgtype: Literal["textcard", "news", "markdown", "text"] = "textcard"
    picurl: str = ""  # the news card's picture
    safe: bool = False  # 保密消息: no forwarding, watermarked
    duplicate_check_interval: int = Field(1800, ge=1, le=14400)
    on_unknown: Literal["retry", "hold"] = "retry"  # a repeat is caught by the duplicate check
    announce_withdrawal: bool = True  # recall, or a correction message
    rate_per_minute: int = Field(30, ge=1)  # per member, as the vendor counts
    rate_per_hour: int = Field(1000, ge=1)
    rate_margin: float = Field(0.05, ge=0, le=1)
    daily_limit: int | None = Field(None, ge=1)  # messages a day, if the seats require it

    _names = field_validator("touser", "toparty", "totag", mode="before")(split_names)

    @model_validator(mode="after")
    def _someone(self) -> WeComAppOptions:
        if not (self.touser or self.toparty or self.totag):
            raise ValueError("name the recipients: touser, toparty or totag (touser: '@all')")
        if "@all" in self.touser and len(self.touser) > 1:
            raise ValueError("touser '@all' already names everyone: list nobody beside it")
        return self


@dataclass(frozen=True)
class RecallPayload(Payload):
    """``message/recall`` of one msgid; ``fallback`` is the correction message sent instead
    when the vendor will not recall it (past its window)."""

    msgid: str = ""
    fallback: Payload | None = None


class WeComAppChannel(ApiChannel[WeComAppOptions]):
    type_name = "wecom_app"
    outlet_label = "企业微信应用消息"
    Options: ClassVar[type[ChannelOptions]] = WeComAppOptions
    default_base = "https://qyapi.weixin.qq.com"
    token_path = "/cgi-bin/gettoken"
    disabled_codes = DISABLED_CODES
    content_codes = CONTENT_CODES

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.on_unknown = self.options.on_unknown

    # ---------------------------------------------------------------- identity and limits

    @property
    def robot_key(self) -> str:
        # the per-member limits count every app of the corp that writes to a member
        if self.unavailable():
            return f"unconfigured:{self.name}"
        import hashlib

        return "wecom_app:" + hashlib.sha256(self.options.corpid.reveal().encode()).hexdigest()[:24]

    @property
    def rate_limits(self) -> list[tuple[int, float]]:
        o = self.options
        return with_margin([(o.rate_per_minute, 60.0), (o.rate_per_hour, 3600.0)], o.rate_margin)

    @property
    def announces_withdrawal(self) -> bool:
        return self.options.announce_withdrawal

    @property
    def target(self) -> str:
        o = self.options
        who = [f"touser={'|'.join(o.touser)}"] if o.touser else []
        who += [f"toparty={'|'.join(o.toparty)}"] if o.toparty else []
        who += [f"totag={'|'.join(o.totag)}"] if o.totag else []
        return f"企业微信应用 {o.agentid} → {' '.join(who)}"

    # ---------------------------------------------------------------- rendering

    def render(self, notice: PublishedNotice, action: Action) -> list[Payload]:
        if action == Action.WITHDRAW:
            return self._withdrawal(notice)
        n = notice.notice
        title = ("【更正】" if notice.is_revision else "") + n.title
        msgtype = self.options.msgtype
        if msgtype == "textcard":
            return [self._message("textcard", self._card(title, n.summary, notice), title)]
        if msgtype == "news":
            article = {
                "title": cut_bytes(title, CARD_TITLE_MAX),
                "description": cut_bytes(n.summary or plain(n.body, notice.tokens), NEWS_DESC_MAX),
                "url": notice.url,
            }
            if self.options.picurl:
                article["picurl"] = self.options.picurl
            return [self._message("news", {"articles": [article]}, title)]
        if msgtype == "markdown":  # rendered by the WeCom client only; no tables
            body = f"## {title}\n\n{without_tables(n.body, notice.url, notice.tokens)}"
            link = f"\n\n[查看全文]({notice.url})"
        else:
            body = f"{title}\n\n{plain(n.body, notice.tokens)}"
            link = f"\n\n全文：{notice.url}"
        return [
            self._message(msgtype, {"content": piece}, label)
            for piece, label in self._pieces(body, link, title)
        ]

    def _pieces(self, body: str, link: str, title: str) -> list[tuple[str, str]]:
        """The text in messages of at most 2,048 bytes, each part marked (i/N) after its
        first line, the link to the full text in the last."""
        if nbytes(body + link) <= TEXT_MAX:
            return [(body + link, title)]
        reserve = nbytes(link) + nbytes(" (99/99)") + 8
        pieces = split(body, TEXT_MAX - reserve)
        out = []
        for i, piece in enumerate(pieces, 1):
            mark = f"({i}/{len(pieces)})"
            first, sep, rest = piece.lstrip("\n").partition("\n")
            text = f"{first} {mark}{sep}{rest}" + (link if i == len(pieces) else "")
            out.append((text, f"{title} {mark}"))
        return out

    def _card(self, title: str, text: str, notice: PublishedNotice) -> dict[str, Any]:
        n = notice.notice
        when = n.publish_at.astimezone(self.ctx.site.timezone)
        # the card's description is HTML-like (<div class="gray">); the text is escaped
        head = f'<div class="gray">{_esc(n.department)} · {when:%Y-%m-%d %H:%M}</div>'
        room = CARD_DESC_MAX - nbytes(head) - nbytes('<div class="normal"></div>')
        desc = head + f'<div class="normal">{_esc(_cut_escaped(text, room))}</div>'
        return {
            "title": cut_bytes(title, CARD_TITLE_MAX),
            "description": desc,
            "url": notice.url,
            "btntxt": "详情",
        }

    def _message(self, msgtype: str, content: dict[str, Any], label: str) -> Payload:
        o = self.options
        body: dict[str, Any] = {"msgtype": msgtype, "agentid": o.agentid, msgtype: content}
        if o.touser:
            body["touser"] = "|".join(o.touser)
        if o.toparty:
            body["toparty"] = "|".join(o.toparty)
        if o.totag:
            body["totag"] = "|".join(o.totag)
        body["safe"] = 1 if o.safe and msgtype != "markdown" else 0
        body["enable_duplicate_check"] = 1
        body["duplicate_check_interval"] = o.duplicate_check_interval
        for key in ("content", "description"):
            value = content.get(key)
            limit = TEXT_MAX if key == "content" else CARD_DESC_MAX
            if isinstance(value, str) and nbytes(value) > limit:
                raise RenderError(
                    f"channel '{self.name}': {msgtype}.{key} is {nbytes(value)} bytes, "
                    f"over the limit of {limit}"
                )
        return Payload(self.target, "application/json", dumps(body), label=label)

    def withdrawal_text(self, notice: PublishedNotice) -> str:
        when = (notice.withdrawn_at or self.ctx.clock.now()).astimezone(self.ctx.site.timezone)
        text = f"该公开事项已于 {when.year}年{when.month}月{when.day}日 {when:%H:%M} 撤回。"
        if notice.withdraw_reason:
            text += f"撤回原因：{notice.withdraw_reason}"
        return text

    def _correction(self, notice: PublishedNotice) -> Payload:
        """The message that says a notice was withdrawn: title, time, reason, and the address
        where a 已撤回 page now stands. Never the withdrawn text."""
        title = "【撤回】" + notice.notice.title
        said = self.withdrawal_text(notice)
        msgtype = self.options.msgtype
        if msgtype in ("textcard", "news"):
            card = {
                "title": cut_bytes(title, CARD_TITLE_MAX),
                "description": f'<div class="highlight">{_esc(cut_bytes(said, 400))}</div>',
                "url": notice.url,
                "btntxt": "说明",
            }
            return self._message("textcard", card, title)
        if msgtype == "markdown":
            text = f"## {title}\n\n{said}\n\n[查看说明]({notice.url})"
        else:
            text = f"{title}\n{said}\n说明：{notice.url}"
        return self._message(msgtype, {"content": cut_bytes(text, TEXT_MAX)}, title)

    def _withdrawal(self, notice: PublishedNotice) -> list[Payload]:
        """A recall of every message of the notice still inside the vendor's window; a
        correction message for the rest (or when nothing was kept to recall)."""
        now = self.ctx.clock.now()
        correction = self._correction(notice)
        recallable: list[SentRef] = []
        too_old = False
        for sent in notice.sent:
            if sent.pending or not sent.ref.startswith("msgid:"):
                continue
            if now - sent.at < RECALL_WINDOW - RECALL_MARGIN:
                recallable.append(sent)
            else:
                too_old = True
        if not recallable:
            return [correction]
        out: list[Payload] = []
        for i, sent in enumerate(recallable):
            msgid = sent.ref.removeprefix("msgid:")
            out.append(
                RecallPayload(
                    self.target,
                    "application/json",
                    dumps({"msgid": msgid}),
                    label=f"recall {msgid}",
                    msgid=msgid,
                    # one correction if the recall is refused: only the first carries it
                    fallback=correction if i == 0 else None,
                )
            )
        if too_old:
            out.append(correction)
        return out

    # ---------------------------------------------------------------- sending

    def _fetch_token(self, force: bool) -> tuple[str, float]:
        data = self.api().request(
            "GET",
            "/cgi-bin/gettoken",
            params={
                "corpid": self.options.corpid.reveal(),
                "corpsecret": self.options.corpsecret.reveal(),
            },
        )
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise NoAnswer("/cgi-bin/gettoken: no access_token in the answer")
        return token, float(data.get("expires_in") or 7200)

    def send(self, payload: Payload, key: str = "") -> Outcome:
        reason = self.unavailable()
        if reason:
            return Outcome.disabled(reason)
        if isinstance(payload, RecallPayload):
            return self._recall(payload)
        if self.options.daily_limit and not self._quota():
            return self._quota_wait()
        try:
            data = self.api().call(
                "POST", "/cgi-bin/message/send", json_body=json.loads(payload.body)
            )
        except ApiError as exc:
            return self.outcome_of(exc)
        msgid = str(data.get("msgid") or "")
        bad = [
            f"{name} {data[name]}"
            for name in ("invaliduser", "invalidparty", "invalidtag", "unlicenseduser")
            if data.get(name)
        ]
        note = f"sent; not delivered to {', '.join(bad)}" if bad else ""
        return Outcome.sent(note, ref=f"msgid:{msgid}" if msgid else "")

    def _quota(self) -> bool:
        assert self.ctx.quotas is not None and self.options.daily_limit
        return self.ctx.quotas.take(
            f"{self.robot_key}:{self.options.agentid}:send",
            self.options.daily_limit,
            self.ctx.clock.now(),
        )

    def quota_use(self) -> dict[str, tuple[int, int]]:
        limit = self.options.daily_limit
        if not limit or self.ctx.quotas is None:
            return {}
        key = f"{self.robot_key}:{self.options.agentid}:send"
        return {"send": (self.ctx.quotas.used(key, limit, self.ctx.clock.now()), limit)}

    def _quota_wait(self) -> Outcome:
        return Outcome.retry(
            f"daily_limit of {self.options.daily_limit} messages used today",
            self.until_tomorrow(),
            counted=False,
        )

    def _recall(self, payload: RecallPayload) -> Outcome:
        try:
            self.api().call("POST", "/cgi-bin/message/recall", json_body={"msgid": payload.msgid})
        except Refused as exc:
            if exc.code in RETRY_CODES or exc.code in DISABLED_CODES:
                return self.outcome_of(exc)
            # past its window, or gone: the people are told instead
            if payload.fallback is None:
                return Outcome.sent(f"could not recall {payload.msgid}: {exc.message}")
            out = self.send(payload.fallback)
            if out.ref:
                out = Outcome.sent(
                    f"could not recall {payload.msgid} ({exc.message}): correction sent",
                    ref=out.ref,
                )
            return out
        except ApiError as exc:
            return self.outcome_of(exc)
        return Outcome.sent(ref=f"recalled:{payload.msgid}")

    def refused(self, exc: Refused, said: str) -> Outcome | None:
        if exc.code in RETRY_CODES:
            wait, counted = RETRY_CODES[exc.code]
            return Outcome.retry(said, wait, counted=counted, limited=exc.code != -1)
        return None

    def render_alert(self, text: str) -> Payload:
        msgtype = "markdown" if self.options.msgtype == "markdown" else "text"
        return self._message(msgtype, {"content": cut_bytes(text, TEXT_MAX)}, text[:60])


def _esc(s: str) -> str:
    return html.escape(s, quote=False)


def _cut_escaped(text: str, limit: int) -> str:
    """``text`` cut so that its escaped form fits ``limit`` bytes."""
    text = " ".join(text.split())
    room = limit
    while room > 3:
        cut = cut_bytes(text, room)
        over = nbytes(_esc(cut)) - limit
        if over <= 0:
            return cut
        room -= over  # each & or < costs more escaped: cut that much more
    return ""
