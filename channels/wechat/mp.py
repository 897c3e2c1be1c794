"""微信公众号 articles (``type: wechat_mp``): each notice published as an article of the
school's Official Account, and deleted when the notice is withdrawn.

Publishing is a task the platform finishes later, so one notice goes out in steps the engine
keeps in the store (nothing here sleeps)::

    send:    cover (material/add_material, once per category) → body images (media/uploadimg)
             → draft/add → freepublish/submit        → PENDING {publish_id}
    resume:  freepublish/get  1 发布中               → PENDING again (poll_seconds later)
                              0 成功                 → SENT {article_id, url}
                              2, 3, 4, 5, 6          → FAILED, with what WeChat said

A ``PUBLISHJOBFINISH`` event (when the site's callback is configured) makes the waiting
delivery due at once instead of at its next poll. ``mode: draft_only`` stops after draft/add
for offices that press 发表 themselves in the 公众号 console.

Daily quotas of the account (draft 1,000, submit 100, get 100, delete 10; lower or higher
as the account's own limits are set in ``quotas``) are taken in the store before each call,
shared by every instance; when one is used up the channel waits for the next day instead of
collecting 45009 answers. 48001 (the account is not verified: since July 2025 only verified
accounts may publish through the API) and 40164 (this server's IP is not whitelisted) pause
the channel with what the office must do.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, field_validator

from publisher.channel import ChannelOptions, Payload, SecretValue
from publisher.model import Action, Outcome, PublishedNotice
from publisher.secrets import MissingSecret

from .api import ApiError, NoAnswer, Refused
from .article import article_for
from .base import ApiChannel, dumps
from .cover import default_cover
from .options import ApiOptions

STATUS = {
    2: "原创校验失败 (the platform judged it not original)",
    3: "常规失败 (WeChat gives no reason; try again or publish by hand)",
    4: "平台审核不通过 (the platform's review refused it)",
    5: "published, then deleted by a user in the 公众号 console",
    6: "published, then blocked by the platform (系统封禁)",
}
DISABLED_CODES = {
    48001: (
        "the 公众号 may not use this API: since July 2025 only verified (微信认证) "
        "organisation accounts may publish through the API. Have the account verified, and "
        "check 设置与开发 → 接口权限; see docs/WECHAT.md"
    ),
    40164: (
        "this server's IP address is not on the 公众号's IP whitelist: add it under "
        "设置与开发 → 基本配置 → IP白名单"
    ),
    40013: "the appid is wrong (设置与开发 → 基本配置 → 开发者ID)",
    40125: "the AppSecret is wrong or was reset: copy the new one into the environment",
    61024: "the AppSecret is not enabled (设置与开发 → 基本配置)",
}
CONTENT_CODES = {
    45003: "title too long",
    45004: "digest too long",
    45166: "content refused",
    53503: "the draft failed the publish check",
    40007: "invalid media id",
}


class Quota(BaseModel):
    """A new account's daily quotas (the office can set the account's own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    draft: int = Field(1000, ge=1)
    submit: int = Field(100, ge=1)
    get: int = Field(100, ge=1)
    delete: int = Field(10, ge=1)
    force_token: int = Field(20, ge=1)


class WeChatMpOptions(ApiOptions):
    appid: SecretValue
    secret: SecretValue
    mode: Literal["publish", "draft_only"] = "publish"
    # freepublish/delete cannot be undone: the office says whether a withdrawal deletes
    on_withdraw: Literal["delete", "keep"] = "delete"
    author: str = ""  # ≤ 16 字; the site's name if empty
    covers: dict[str, str] = Field(default_factory=dict)  # category slug or "default" → jpg/png
    cover_colour: str = "#1f4e79"
    # how often a publish under way is looked at (each look uses the daily `get` quota):
    # every minute, or every 10 minutes when the vendor's push says when it is done
    poll_seconds: float | None = Field(None, ge=5)
    publish_timeout_hours: float = Field(24.0, gt=0)
    # the token of the 公众号's server configuration (消息推送): enables POST /hooks/NAME
    # for PUBLISHJOBFINISH events (plaintext or compatible mode)
    callback_token: SecretValue | None = None
    quotas: Quota = Field(default_factory=Quota)
    on_unknown: Literal["retry", "hold"] = "hold"  # a repeated submit publishes twice

    @field_validator("cover_colour")
    @classmethod
    def _colour(cls, value: str) -> str:
        from PIL import ImageColor

        try:
            ImageColor.getrgb(value)
        except ValueError:
            raise ValueError(f"cover_colour {value!r} is not a colour (write #1f4e79)") from None
        return value

    @field_validator("covers")
    @classmethod
    def _covers(cls, value: dict[str, str]) -> dict[str, str]:
        for key, path in value.items():
            p = Path(path)
            if p.suffix.lower() not in (".jpg", ".jpeg", ".png"):
                raise ValueError(f"covers.{key}: {path} must be a .jpg or .png file")
            if not p.is_file():
                raise ValueError(f"covers.{key}: {path} does not exist")
            if p.stat().st_size >= 10_000_000:
                raise ValueError(f"covers.{key}: {path} is over 10 MB")
        return value


class WeChatMpChannel(ApiChannel[WeChatMpOptions]):
    type_name = "wechat_mp"
    outlet_label = "微信公众号"
    Options: ClassVar[type[ChannelOptions]] = WeChatMpOptions
    default_base = "https://api.weixin.qq.com"
    token_path = "/cgi-bin/stable_token"
    disabled_codes = DISABLED_CODES
    content_codes = CONTENT_CODES
    wants_files = True  # body images are uploaded from the approved bytes

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.on_unknown = self.options.on_unknown
        self._media: dict[str, str] = {}  # sha256 of an uploaded file → its media id / URL
        self._images: dict[str, bytes] = {}  # the approved bytes of the images just rendered

    @property
    def robot_key(self) -> str:
        if self.unavailable():
            return f"unconfigured:{self.name}"
        appid = self.options.appid.reveal()
        return "wechat_mp:" + hashlib.sha256(appid.encode()).hexdigest()[:24]

    @property
    def announces_withdrawal(self) -> bool:
        return True  # deleted, or recorded as kept (on_withdraw)

    @property
    def target(self) -> str:
        return f"微信公众号 ({self.options.mode})"

    # ---------------------------------------------------------------- rendering

    def render(self, notice: PublishedNotice, action: Action) -> list[Payload]:
        if action == Action.WITHDRAW:
            return [self._withdrawal(notice)]
        body, images = article_for(notice, self.options.author or self.ctx.site.name)
        self._images = {i.sha256: i.data for i in images}  # sent right after rendering
        category = notice.notice.category
        path = self.options.covers.get(category) or self.options.covers.get("default")
        if path:
            data = Path(path).read_bytes()
            body["cover"] = {"file": path, "sha256": hashlib.sha256(data).hexdigest()}
        else:
            data = default_cover(
                notice.category_name, self.ctx.site.name, self.options.cover_colour
            )
            body["cover"] = {
                "generated": notice.category_name,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        return [Payload(self.target, "application/json", dumps(body), label="article")]

    def _withdrawal(self, notice: PublishedNotice) -> Payload:
        if self.options.on_withdraw == "keep":
            body: dict[str, Any] = {"op": "keep"}
        else:
            refs = []
            for sent in notice.sent:
                try:
                    ref = json.loads(sent.ref)
                except ValueError:
                    continue
                if isinstance(ref, dict):
                    refs.append(ref)
            body = {"op": "delete", "refs": refs}
        return Payload(self.target, "application/json", dumps(body), label="withdrawal")

    # ---------------------------------------------------------------- the API

    def _fetch_token(self, force: bool) -> tuple[str, float]:
        # stable_token hands every caller the same token until 5 minutes before it expires,
        # and the old one keeps working those 5 minutes: instances need not agree on it.
        # Forcing a new one is rationed (20 a day), so only when the normal answer was refused.
        if force and not self._take("force_token"):
            force = False
        data = self.api().request(
            "POST",
            "/cgi-bin/stable_token",
            json_body={
                "grant_type": "client_credential",
                "appid": self.options.appid.reveal(),
                "secret": self.options.secret.reveal(),
                "force_refresh": force,
            },
        )
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise NoAnswer("/cgi-bin/stable_token: no access_token in the answer")
        return token, float(data.get("expires_in") or 7200)

    @property
    def poll_seconds(self) -> float:
        if self.options.poll_seconds is not None:
            return self.options.poll_seconds
        return 600.0 if self.options.callback_token is not None else 60.0

    def _ts(self) -> float:
        return self.ctx.clock.now().timestamp()

    def _take(self, what: str) -> bool:
        assert self.ctx.quotas is not None
        limit = getattr(self.options.quotas, what)
        return self.ctx.quotas.take(f"{self.robot_key}:{what}", limit, self.ctx.clock.now())

    def quota_use(self) -> dict[str, tuple[int, int]]:
        """Each daily quota today: (used, allowed), for status."""
        assert self.ctx.quotas is not None
        now = self.ctx.clock.now()
        out = {}
        for what in ("draft", "submit", "get", "delete"):
            limit = getattr(self.options.quotas, what)
            out[what] = (self.ctx.quotas.used(f"{self.robot_key}:{what}", limit, now), limit)
        return out

    class _QuotaUsed(Exception):
        pass

    def _call(self, quota: str, path: str, body: Any = None, **kw: Any) -> dict[str, Any]:
        if not self._take(quota):
            raise self._QuotaUsed(f"the daily quota of {quota} calls is used up")
        return self.api().call("POST", path, json_body=body, **kw)

    # ---------------------------------------------------------------- sending

    def send(self, payload: Payload, key: str = "") -> Outcome:
        reason = self.unavailable()
        if reason:
            return Outcome.disabled(reason)
        body = json.loads(payload.body)
        try:
            if body.get("op") == "keep":
                return Outcome.sent(ref=json.dumps({"kept": True}))
            if body.get("op") == "delete":
                return self._delete(body["refs"])
            return self._publish(body)
        except self._QuotaUsed as exc:
            return Outcome.retry(
                str(exc),
                self.until_tomorrow(),
                counted=False,
            )
        except (ApiError, ValueError, OSError, KeyError, TypeError) as exc:
            return self.outcome_of(exc)

    def _upload(self, path: str, data: bytes, name: str, media_type: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        hit = self._media.get(f"{path}:{sha}")
        if hit:
            return hit
        files = {"media": (name, data, media_type)}
        if path == "/cgi-bin/material/add_material":
            res = self.api().call("POST", path, params={"type": "image"}, files=files)
            value = str(res.get("media_id") or "")
        else:
            res = self.api().call("POST", path, files=files)
            value = str(res.get("url") or "")
        if not value:
            raise NoAnswer(f"{path}: the answer has no media id")
        self._media[f"{path}:{sha}"] = value
        return value

    def _publish(self, body: dict[str, Any]) -> Outcome:
        cover = body["cover"]
        if "file" in cover:
            data = Path(cover["file"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != cover["sha256"]:
                return Outcome.failed(f"cover {cover['file']} changed since it was rendered")
            kind = "image/png" if cover["file"].lower().endswith(".png") else "image/jpeg"
            name = Path(cover["file"]).name
        else:
            data = default_cover(cover["generated"], self.ctx.site.name, self.options.cover_colour)
            kind, name = "image/png", "cover.png"
        article = dict(body["article"])
        article["thumb_media_id"] = self._upload("/cgi-bin/material/add_material", data, name, kind)
        content = article["content"]
        for image in body["images"]:
            data = self._images.get(image["sha256"], b"")
            if hashlib.sha256(data).hexdigest() != image["sha256"]:
                return Outcome.failed(f"image {image['name']}: not the approved bytes")
            url = self._upload("/cgi-bin/media/uploadimg", data, image["name"], image["media_type"])
            content = content.replace(f'src="{_attr(image["src"])}"', f'src="{_attr(url)}"')
        article["content"] = content
        media_id = str(
            self._call("draft", "/cgi-bin/draft/add", {"articles": [article]}).get("media_id", "")
        )
        if not media_id:
            return Outcome.unknown("draft/add answered without a media_id")
        if self.options.mode == "draft_only":
            return Outcome.sent(
                "draft saved: publish it in the 公众号 console",
                ref=json.dumps({"media_id": media_id}),
            )
        res = self._call("submit", "/cgi-bin/freepublish/submit", {"media_id": media_id})
        publish_id = str(res.get("publish_id") or "")
        if not publish_id:
            return Outcome.unknown("freepublish/submit answered without a publish_id")
        ref = {"op": "publish", "publish_id": publish_id, "media_id": media_id, "since": self._ts()}
        return Outcome.pending(json.dumps(ref), "publishing", self.poll_seconds)

    def resume(self, ref: str) -> Outcome:
        try:
            task = json.loads(ref)
            if task.get("op") == "withdraw":
                return self._delete([task])
            return self._follow(task)
        except self._QuotaUsed as exc:
            return Outcome.pending(ref, str(exc), self.until_tomorrow())
        except (ApiError, ValueError, OSError, KeyError, TypeError) as exc:
            out = self.outcome_of(exc)
            if out.kind.value in ("retry", "unknown"):  # polling is safe: look again later
                return Outcome.pending(ref, out.reason, self.poll_seconds)
            return out

    def _status(self, publish_id: str) -> dict[str, Any]:
        return self._call("get", "/cgi-bin/freepublish/get", {"publish_id": publish_id})

    def _follow(self, task: dict[str, Any]) -> Outcome:
        res = self._status(task["publish_id"])
        status = int(res.get("publish_status", -1))
        if status == 0:
            items = (res.get("article_detail") or {}).get("item") or [{}]
            url = str(items[0].get("article_url") or "")
            done = {
                "article_id": str(res.get("article_id") or ""),
                "url": url,
                "publish_id": task["publish_id"],
            }
            return Outcome.sent(ref=json.dumps(done))  # the link shows beside the delivery
        if status == 1:
            if (
                self._ts() - float(task.get("since", self._ts()))
                > self.options.publish_timeout_hours * 3600
            ):
                return Outcome.failed(
                    f"still 发布中 after {self.options.publish_timeout_hours:g} hours "
                    f"(publish_id {task['publish_id']}): look in the 公众号 console"
                )
            return Outcome.pending(json.dumps(task), "发布中", self.poll_seconds)
        why = STATUS.get(status, f"publish_status {status} (not documented)")
        fail = res.get("fail_idx")
        return Outcome.failed(f"{why}" + (f"; fail_idx {fail}" if fail else ""))

    def _delete(self, refs: list[dict[str, Any]]) -> Outcome:
        """Take back every article (or draft) of the notice; a publish still under way is
        looked at again until it ends, then deleted if it was published."""
        done: list[str] = []
        for ref in refs:
            if ref.get("kept") or ref.get("deleted"):
                continue
            if ref.get("op") in ("publish", "withdraw"):
                res = self._status(ref["publish_id"])
                status = int(res.get("publish_status", -1))
                if status == 1:
                    task = {**ref, "op": "withdraw"}
                    return Outcome.pending(json.dumps(task), "waiting to delete", 30.0)
                if status != 0:
                    done.append(f"publish {ref['publish_id']} ended unpublished ({status})")
                    continue
                ref = {"article_id": str(res.get("article_id") or "")}
            if ref.get("article_id"):
                self._call(
                    "delete",
                    "/cgi-bin/freepublish/delete",
                    {"article_id": ref["article_id"], "index": 0},
                )
                done.append(f"deleted article {ref['article_id']}")
            elif ref.get("media_id"):
                self.api().call(
                    "POST", "/cgi-bin/draft/delete", json_body={"media_id": ref["media_id"]}
                )
                done.append(f"deleted draft {ref['media_id']}")
        return Outcome.sent(
            "; ".join(done) or "nothing was published",
            ref=json.dumps({"deleted": True, "what": done}, ensure_ascii=False),
        )

    # ---------------------------------------------------------------- the vendor's pushes

    @property
    def listens(self) -> bool:
        """Pushes are taken once the server configuration's token is set."""
        return self.options.callback_token is not None

    def vendor_event(
        self, method: str, query: Mapping[str, str], body: bytes
    ) -> tuple[int, str, str | None]:
        """The 公众号 server configuration (消息推送) pointed at ``/hooks/NAME``: the URL
        check (GET with echostr) and events (POST). Signed with the configured token: sha1
        of the sorted token, timestamp and nonce; an answer that is not signed, or older
        than 5 minutes, is refused. Only PUBLISHJOBFINISH matters here: the delivery whose
        publish it names is looked at now instead of at its next poll."""
        token = self.options.callback_token
        if token is None or isinstance(token, MissingSecret):
            return 404, "not found", None
        ts, nonce = query.get("timestamp", ""), query.get("nonce", "")
        expected = hashlib.sha1("".join(sorted([token.reveal(), ts, nonce])).encode()).hexdigest()
        if not hmac.compare_digest(expected, query.get("signature", "")):
            return 403, "bad signature", None
        if not ts.isdigit() or abs(self._ts() - int(ts)) > 300:
            return 403, "stale timestamp", None
        if method == "GET":
            echo = query.get("echostr", "")
            if not re.fullmatch(r"[0-9A-Za-z_-]{1,128}", echo):
                return 400, "bad echostr", None
            return 200, echo, None
        publish_id = _publish_id_of(body)
        if publish_id is None:
            return 200, "success", None  # another event, or safe mode: nothing to do
        return 200, "success", json.dumps({"publish_id": publish_id})[1:-1]

    def refused(self, exc: Refused, said: str) -> Outcome | None:
        if exc.code == 45009:
            return Outcome.retry(
                f"{said} (the account's daily quota)", self.until_tomorrow(), counted=False
            )
        if exc.code == -1:
            return Outcome.retry(said, 5.0)
        return None


def _attr(s: str) -> str:
    return s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _publish_id_of(body: bytes) -> str | None:
    """The publish_id of a PUBLISHJOBFINISH event (no entities, no network, no DTD)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        return None
    if root.findtext("Event") != "PUBLISHJOBFINISH":
        return None
    pid = (root.findtext("PublishEventInfo/publish_id") or "").strip()
    return pid if pid.isdigit() and len(pid) <= 32 else None
