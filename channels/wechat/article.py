"""A notice as a 公众号 article: the HTML the draft carries, and the images it needs.

WeChat strips what it does not allow: scripts, styles from elsewhere, images hosted anywhere
but its own servers, and links out of the platform. So the article is written for that:

- every image is one of the notice's own approved files (its bytes checked against the hash
  pinned at approval before it is uploaded with ``media/uploadimg``); an image from anywhere
  else is dropped, its description kept in brackets;
- links become "text（address）" so the reader still sees where they lead;
- the facts readers look for (发布部门, 发布日期, 索引号, 公示期) open the article, the
  attachments close it, and "阅读原文" leads to the full notice on the site.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from typing import Any

import lxml.html
from lxml import etree

from publisher.model import PublishedNotice
from publisher.text import xml_safe

CONTENT_MAX = 20_000  # characters of content the draft API takes
TITLE_MAX = 32  # 字
AUTHOR_MAX = 16
DIGEST_MAX = 128
IMAGE_MAX = 1_000_000  # bytes, uploadimg's limit (jpg/png)


@dataclass(frozen=True)
class Image:
    """An image of the article: the src written in the notice, the approved file and hash."""

    src: str
    name: str
    sha256: str
    media_type: str
    data: bytes


def chars(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def article_for(notice: PublishedNotice, author: str) -> tuple[dict[str, Any], list[Image]]:
    """The draft's article (without thumb_media_id, which the upload gives) and the images
    to upload with it."""
    n = notice.notice
    tz = n.publish_at.tzinfo
    facts = [("发布部门", n.department), ("发布日期", f"{n.publish_at:%Y-%m-%d}")]
    if notice.index_no:
        facts.append(("索引号", notice.index_no))
    if n.doc_no:
        facts.append(("文号", n.doc_no))
    if n.expires_at:
        facts.append(("公示截止", f"{n.expires_at.astimezone(tz):%Y-%m-%d %H:%M}"))
    head = "".join(
        f'<p style="color:#666;font-size:14px;margin:0">{_esc(k)}：{_esc(v)}</p>'
        for k, v in facts
        if v
    )
    body, images = _body(notice)
    tail = ""
    if n.attachments:
        rows = "".join(
            f"<li>{_esc(a.title or a.filename)}（"
            + _esc(_file_url(notice, a.sha256, a.filename) if a.is_local else a.href)
            + "）</li>"
            for a in n.attachments
        )
        tail += f"<p><strong>附件</strong></p><ul>{rows}</ul>"
    if n.contact:
        tail += f"<p>联系方式：{_esc(n.contact)}</p>"
    tail += '<p style="color:#666;font-size:14px">全文及附件请点击“阅读原文”查看。</p>'
    title_line = f"<h2>{_esc(n.title)}</h2>" if len(n.title) > TITLE_MAX else ""
    content = xml_safe(f"<section>{title_line}{head}<hr/>{body}{tail}</section>")
    if len(content) > CONTENT_MAX:
        # too long for the article: the summary, and the full text behind 阅读原文
        summary = f"<p>{_esc(n.summary)}</p>" if n.summary else ""
        content = xml_safe(f"<section>{title_line}{head}<hr/>{summary}{tail}</section>")
        images = []
    return {
        "article": {
            "title": chars(("【更正】" if notice.is_revision else "") + n.title, TITLE_MAX),
            "author": chars(author, AUTHOR_MAX),
            "digest": chars(" ".join((n.summary or "").split()), DIGEST_MAX),
            "content": content,
            "content_source_url": notice.url,
            "need_open_comment": 0,
            "only_fans_can_comment": 0,
        },
        "images": [
            {"src": i.src, "name": i.name, "sha256": i.sha256, "media_type": i.media_type}
            for i in images
        ],
    }, images


def _file_url(notice: PublishedNotice, sha256: str, name: str) -> str:
    base = notice.url.split("/notices/")[0]
    return f"{base}/files/{sha256[:16]}/{name}"


def _body(notice: PublishedNotice) -> tuple[str, list[Image]]:
    """The notice's HTML with links written out and images kept only where they are the
    notice's own approved files."""
    if not notice.html.strip():
        return "", []
    # control characters are not text (and lxml refuses them)
    root = lxml.html.fragment_fromstring(xml_safe(notice.html), create_parent="div")
    local = {a.href: a for a in notice.notice.attachments if a.is_local and a.sha256}
    images: list[Image] = []
    for img in list(root.iter("img")):
        src = img.get("src") or ""
        att = local.get(src)
        if (
            att is not None
            and att.media_type in ("image/png", "image/jpeg")
            and att.data is not None
            and hashlib.sha256(att.data).hexdigest() == att.sha256
            and len(att.data) < IMAGE_MAX
        ):
            images.append(Image(src, att.filename, att.sha256, att.media_type, att.data))
            img.set("style", "max-width:100%")
            continue
        alt = img.get("alt") or "图片"
        _replace(img, f"［{alt}］")
    for a in list(root.iter("a")):
        href = a.get("href") or ""
        text = a.text_content()
        label = text if href in ("", text) else f"{text}（{href}）"
        _replace(a, label)
    for table in root.iter("table"):
        table.set("style", "border-collapse:collapse;width:100%;font-size:14px")
        for cell in table.iter("td", "th"):
            cell.set("style", "border:1px solid #ccc;padding:4px")
    html = "".join(etree.tostring(child, encoding="unicode", method="html") for child in root)
    if root.text and root.text.strip():
        html = _esc(root.text) + html
    return html, images


def _replace(el: Any, text: str) -> None:
    """Put ``text`` (and the element's tail) where ``el`` was."""
    parent = el.getparent()
    tail = el.tail or ""
    prev = el.getprevious()
    if prev is not None:
        prev.tail = (prev.tail or "") + text + tail
    else:
        parent.text = (parent.text or "") + text + tail
    parent.remove(el)


def _esc(s: str) -> str:
    return html.escape(s)
