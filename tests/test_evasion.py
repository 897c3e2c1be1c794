"""An evasion corpus generated from the deny list, the school name and the known titles.

Every obfuscation class seen in the wild is a strategy; hypothesis combines them, character by
character, and puts the result in the body, the title, a link's text, a link's target or an
attachment saved as GBK/GB18030/UTF-16. Each generated case must be blocked.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import replace
from functools import cache, lru_cache

import opencc
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pypinyin import Style, pinyin

from publisher.model import Attachment, Link, Notice, Severity
from publisher.review.fields import SHIPPED_TITLES, LintConfig
from publisher.review.gate import attachment_fields
from publisher.review.matching import _confusable_prototypes
from publisher.review.rules import DEFAULT_DENY_LIST, run_rules
from publisher.review.urls import domain_ascii

from .helpers import START

# generated spam cases per run (at least 500; EVASION_EXAMPLES=5000 for a deeper search)
EXAMPLES = max(500, int(os.environ.get("EVASION_EXAMPLES", "500")))
SCHOOL = "南山示范大学"
CFG = LintConfig(
    school_name=SCHOOL,
    allowed_domains=tuple(domain_ascii(d) for d in ("example.edu.cn", "gov.cn", "127.0.0.1")),
    base_url="http://127.0.0.1:8080/",
)
BASE = Notice(
    id="x",
    title=f"{SCHOOL}关于开展专项工作的通知",
    category="qt",
    item=49,
    department="校长办公室",
    summary="",
    body="各单位：\n\n现将有关事项通知如下。",
    publish_at=START,
    lines={"title": 3, "body": 11},
)
HAN_TERMS = [w for w in DEFAULT_DENY_LIST if sum("\u4e00" <= c <= "\u9fff" for c in w) >= 2]
LATIN_TERMS = [w for w in DEFAULT_DENY_LIST if w.isascii() and len(w) >= 5]
LONG_TITLES = [t for t in SHIPPED_TITLES if len(t) >= 8]
_VARIANTS = [opencc.OpenCC(c) for c in ("s2t", "s2hk", "s2tw")]


@cache
def variants(c: str) -> tuple[str, ...]:
    """繁体/异体 spellings of a character, from OpenCC's own data."""
    return tuple(sorted({v.convert(c) for v in _VARIANTS} - {c}))


@lru_cache(maxsize=1)
def lookalikes() -> dict[str, list[str]]:
    """ASCII letter → TR39 look-alikes (Cyrillic, Greek …); Han → compatibility forms."""
    out: dict[str, list[str]] = {}
    for ch, proto in _confusable_prototypes().items():
        out.setdefault(proto, []).append(ch)
    for cp in [*range(0x2F00, 0x2FD6), *range(0xF900, 0xFAFF)]:
        nf = unicodedata.normalize("NFKC", chr(cp))
        if len(nf) == 1 and nf != chr(cp):
            out.setdefault(nf, []).append(chr(cp))
    return out


def _reads_as_letter(c: str) -> bool:
    """Symbols that are letters in disguise (Ⓐ, ⼤, 𝈆): they read as a letter, not a gap."""
    nf = unicodedata.normalize("NFKC", c)
    return nf.isalnum() or c in _confusable_prototypes() or nf in _confusable_prototypes()


# what a spammer puts between characters: punctuation, symbols, spaces, zero-width, emoji
SEPARATOR = st.one_of(
    st.characters(categories=["Pc", "Pd", "Po", "Ps", "Pe", "Sm", "Sc", "Sk", "So", "Zs"]).filter(
        lambda c: not _reads_as_letter(c) and c not in "`\\"
    ),
    st.sampled_from(["\u200b", "\u200d", "\u2060", "\ufeff", "🎉", "🔥", "·", "！", "+"]),
)
# (a backtick or backslash next to an entity keeps it from being decoded: the reader then sees
# "&#24425;", not the word; `博`彩` itself is in test_the_classes_seen_on_main_are_each_blocked)


@st.composite
def disguised(
    draw: st.DrawFn, word: str, *, entities: bool = True, spaced: bool = True
) -> list[str]:
    """``word`` with each character written some other way a reader still reads as it (as the
    list of pieces, so a split never falls inside an entity)."""
    out: list[str] = []
    for i, c in enumerate(word):
        ways = [c]
        if "\u4e00" <= c <= "\u9fff":
            ways += list(variants(c))
            readings = pinyin(c, style=Style.NORMAL, heteronym=True)[0][:1]
            ways += [r.upper() if draw(st.booleans()) else r for r in readings]
            ways += pinyin(c, style=Style.TONE)[0]  # bó cǎi
        elif c.isascii() and c.isalnum():
            ways += [c.upper(), chr(ord(c.upper()) + 0xFEE0)]  # ＫＡＩ
        ways += lookalikes().get(c, [])[:6]
        if entities:
            ways += [f"&#{ord(c)};", f"&#x{ord(c):x};"]
        out.append(draw(st.sampled_from(ways)))
        if spaced and i < len(word) - 1 and draw(st.booleans()):
            out.append(draw(SEPARATOR))
    return out


def blocking(notice: Notice) -> set[str]:
    extra, found = attachment_fields(notice)
    findings = found + run_rules(notice, CFG, extra_fields=extra)
    return {f.rule for f in findings if f.severity == Severity.BLOCK}


def place(where: str, text: str, encoding: str) -> Notice:
    if where == "body":
        return replace(BASE, body=f"各单位：\n\n欢迎{text}，现将有关事项通知如下。")
    if where == "title":
        return replace(BASE, title=f"关于{text}的通知")
    if where == "link-text":
        return replace(BASE, links=(Link(text, "https://www.example.edu.cn/a.htm"),))
    if where == "md-link":
        return replace(BASE, body=f"详见[{text}](https://www.example.edu.cn/a.htm)。")
    if where == "link-target":
        return replace(BASE, body=f"详见[通知](https://www.example.edu.cn/{text})。")
    data = f"序号,名称,备注\n1,{text},无\n".encode(encoding)
    a = Attachment("名单", "list.csv", "text/csv", len(data), "0" * 64, data)
    return replace(BASE, attachments=(a,))


def split_links(pieces: list[str], at: int) -> str:
    """One word split across two Markdown links."""
    a, b = "".join(pieces[:at]), "".join(pieces[at:])
    return f"[{a}](https://www.example.edu.cn/a)[{b}](https://www.example.edu.cn/b)"


PLACES = ["body", "title", "link-text", "md-link", "link-target", "attachment"]
ENCODINGS = ["gbk", "gb18030", "utf-16", "utf-16-le", "utf-16-be"]


@st.composite
def spam_case(draw: st.DrawFn) -> tuple[str, str, str]:
    word = draw(st.sampled_from(HAN_TERMS + LATIN_TERMS))
    where = draw(st.sampled_from(PLACES))
    encoding = draw(st.sampled_from(ENCODINGS))
    # entities are decoded by renderers, not by a CSV reader; a target carries no spaces
    pieces = draw(
        disguised(word, entities=where != "attachment", spaced=where not in ("link-target",))
    )
    text = "".join(pieces)
    # split across two links (unless a piece is link syntax itself, which breaks the links
    # into visible brackets and URLs: then the reader no longer sees one word)
    if where == "body" and not set("[]()") & set(text) and draw(st.booleans()):
        text = split_links(pieces, draw(st.integers(1, max(1, len(pieces) - 1))))
    if where == "attachment":
        try:
            text.encode(encoding)
        except UnicodeEncodeError:
            encoding = "gb18030"  # GBK lacks emoji and some symbols; GB18030 has all of Unicode
    return where, text, encoding


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spam_case())
@example(("title", "taiyang城jituan", "gbk"))  # pinyin runs on both sides of a Han character
def test_disguised_deny_list_terms_are_blocked(case: tuple[str, str, str]) -> None:
    where, text, encoding = case
    assert blocking(place(where, text, encoding)) & {"spam", "promotion"}, (where, text)


@st.composite
def altered_name(draw: st.DrawFn) -> str:
    """The school name with at least one change a reader could miss."""
    chars = list(SCHOOL)
    kind = draw(st.sampled_from(["variant", "lookalike", "homophone", "type", "separator"]))
    if kind == "type":
        return SCHOOL[:-2] + draw(st.sampled_from(["学院", "学校"]))
    if kind == "separator":
        at = draw(st.integers(1, len(chars) - 1))
        return SCHOOL[:at] + draw(SEPARATOR.filter(lambda c: not c.isspace())) + SCHOOL[at:]
    if kind == "homophone":
        at = draw(st.sampled_from([2, 3]))  # 示范: 师范, 是范, 示饭
        swap = {"示": ["师", "是", "式", "市"], "范": ["饭", "犯", "泛", "贩"]}[chars[at]]
        chars[at] = draw(st.sampled_from(swap))
        return "".join(chars)
    pool = {
        i: (variants(c) if kind == "variant" else tuple(lookalikes().get(c, [])))
        for i, c in enumerate(chars)
    }
    pool = {i: p for i, p in pool.items() if p}
    at = draw(st.sampled_from(sorted(pool)))
    chars[at] = draw(st.sampled_from(pool[at]))
    return "".join(chars)


@settings(max_examples=150, deadline=None)
@given(altered_name(), st.sampled_from(["body", "title", "link-text", "attachment"]))
def test_an_altered_school_name_is_blocked(name: str, where: str) -> None:
    assert name != SCHOOL
    assert "school-name" in blocking(place(where, name, "gb18030")), name


@st.composite
def altered_title(draw: st.DrawFn) -> tuple[str, str]:
    title = draw(st.sampled_from(LONG_TITLES))
    chars = list(title)
    kind = draw(st.sampled_from(["variant", "separator", "substitute"]))
    han = [i for i, c in enumerate(chars) if variants(c)]
    if kind == "variant" and han:
        at = draw(st.sampled_from(han))
        chars[at] = draw(st.sampled_from(variants(chars[at])))
    elif kind == "separator":
        at = draw(st.integers(1, len(chars) - 1))
        chars.insert(at, draw(st.sampled_from(["·", "•", "-", "_", "＊", "\u3000"])))
    else:  # a spun rewrite: one character replaced (学校 → 院校)
        at = draw(st.integers(2, len(chars) - 1))
        chars[at] = draw(st.sampled_from("院所类级部厅办局署会"))
    new = "".join(chars)
    return title, new


@settings(max_examples=150, deadline=None)
@given(altered_title())
def test_a_rewritten_statute_title_is_blocked(case: tuple[str, str]) -> None:
    original, new = case
    notice = replace(BASE, body=f"根据《{new}》有关规定，现将有关事项通知如下。")
    if new == original:
        assert "title-altered" not in blocking(notice)
    elif new.replace("\u3000", "") in SHIPPED_TITLES:
        return  # the substitution happened to produce another real title
    else:
        assert "title-altered" in blocking(notice), new


def test_the_classes_seen_on_main_are_each_blocked() -> None:
    seen = {
        "博&#24425;": "spam",
        "博！彩": "spam",
        "博+彩": "spam",
        "博【彩】": "spam",
        "博`彩`": "spam",
        split_links(["博", "彩"], 1): "spam",
        "kаiyun": "spam",  # Cyrillic а
        "賭場": "spam",
        "bo cai": "spam",
        "[x](https&#58;//evil.example/)": "link-domain",
        "<HTTPS://evil.example/a>": "link-domain",
        "[x](https://evil.example\\.moe.gov.cn/)": "link-domain",
        "[x](https://www.gov.cn@evil.example/)": "link-domain",
        "南山师范大学": "school-name",
        "南山示范学院": "school-name",
        "南山示範大學": "school-name",
        "南山示范\u2f24学": "school-name",  # Kangxi radical ⼤
    }
    for body, rule in seen.items():
        assert rule in blocking(replace(BASE, body=body)), body
    for encoding in ("gbk", "utf-16", "utf-16-le"):
        assert "spam" in blocking(place("attachment", "开云体育", encoding)), encoding
