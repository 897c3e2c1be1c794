"""The lint rules of the confidentiality review (保密审查).

Each rule looks at every text field of a notice as written and as shown to readers (see
``fields``), and at the decoded text of attached text files, and reports findings with a
severity (block / warn) and the position in the file. Personal data is masked in the findings
themselves, so a review report never re-publishes what it found. Matching folds look-alikes,
variants, punctuation and pinyin first (``matching``); structural tampering rules live in
``tamper``; links are judged as a browser follows them (``urls``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache

from publisher.model import Finding, Notice, Severity
from publisher.review.fields import Field_, Kind, LintConfig, fields_of, make_finding
from publisher.review.matching import fold, fold_plain, pinyin_pattern, pinyin_term_names
from publisher.review.tamper import cited_titles, link_hosts, promotion, revision, school_name
from publisher.review.urls import link_problem, target_text
from publisher.review.visible import bare_urls, shown_body, source_links
from publisher.text import BIDI_CONTROLS, emoji_at, invisible_at

__all__ = ["Field_", "LintConfig", "fields_of", "run_rules"]

SECRET_MARKINGS_BLOCK = (
    "绝密",
    "机密",
    "内部资料",
    "内部文件",
    "工作秘密",
    "内部使用",
    "不得外传",
    "严禁外传",
    "内部传阅",
    "仅供内部",
)
SECRET_MARKINGS_WARN = ("涉密", "商业秘密")

# (not 赌博: discipline rules and anti-fraud notices name it; spam says 博彩 and 娱乐)
DEFAULT_DENY_LIST = (
    "娱乐平台",
    "官方平台",
    "官方网站入口",
    "开云",
    "kaiyun",
    "必赢",
    "新葡京",
    "葡京",
    "百家乐",
    "棋牌",
    "彩票",
    "博彩",
    "赌场",
    "真人视讯",
    "威尼斯人",
    "澳门银河",
    "澳门赌",
    "太阳城集团",
    "体育投注",
    "电子游艺",
    "老虎机",
    "六合彩",
    "时时彩",
    "bet365",
    "365bet",
    "乐鱼体育",
    "华体会",
    "米乐体育",
    "爱游戏体育",
    "半岛体育",
    "九游会",
    "亚博体育",
    "ob体育",
    "开云体育",
    "星空体育",
    "球盘",
    "下注",
    "充值送",
    "首存",
    "注册送",
)


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
_MOBILE_RE = re.compile(r"(?<![\d-])(?:\+?86[ -]?)?(1[3-9]\d[ -]?\d{4}[ -]?\d{4})(?![\d-])")
_CARD_RE = re.compile(r"(?<![\d-])((?:\d{4}[ -]?){3,4}\d{1,4}|\d{16,19})(?![\d-])")


def run_rules(
    notice: Notice,
    cfg: LintConfig,
    *,
    previous: Notice | None = None,
    extra_fields: Sequence[Field_] = (),
) -> list[Finding]:
    fields = fields_of(notice) + list(extra_fields)
    urls = link_targets(notice, fields)
    own = [f for f in fields if f.kind != Kind.ATTACHMENT]
    # a link's target is read too (percent-escapes and punycode decoded): a reader sees it in
    # the status bar, and spam puts its brand there
    targets: dict[str, Field_] = {}  # a link repeated a hundred times is read once
    for fld, url in urls:
        text = target_text(url)
        if text not in targets:
            targets[text] = Field_(fld.name, text, fld.line, fld.file, Kind.SHOWN)
    fields += targets.values()
    findings: list[Finding] = []
    for rule in RULES:
        findings.extend(rule(fields, cfg))
    findings.extend(_required_name(notice, own, cfg))
    findings.extend(_links(urls, cfg))
    if previous is not None:
        before = fields_of(previous)
        findings.extend(
            revision(
                own,
                before,
                link_hosts([u for _, u in urls], cfg.base_url),
                link_hosts(
                    [u for _, u in link_targets(previous, fields_of(previous))], cfg.base_url
                ),
                cfg,
            )
        )
    # one place, one finding: the same span can match several deny-list words, and the text
    # as written and as shown usually find the same thing (keep the one with a column)
    unique: dict[tuple[str, str, int | None, str], Finding] = {}
    for f in sorted(findings, key=lambda f: f.column is None):
        key = (f.rule, f.field.removesuffix(" (as shown)"), f.line, f.excerpt)
        unique.setdefault(key, f)
    return sorted(
        unique.values(),
        key=lambda f: (f.severity != Severity.BLOCK, f.field, f.line or 0, f.column or 0, f.rule),
    )


# ------------------------------------------------------------------------------ helpers


def mask(s: str) -> str:
    digits = re.sub(r"[ -]", "", s)
    if len(digits) <= 6:
        return "*" * len(digits)
    return digits[:4] + "*" * (len(digits) - 6) + digits[-2:]


_LETTERS = re.compile("[a-z]+")


@lru_cache(maxsize=64)
def _folded_words(words: tuple[str, ...]) -> dict[str, str]:
    folded = {fold_plain(w): w for w in words}
    folded.pop("", None)
    return folded


def _search(
    fld: Field_, words: tuple[str, ...], by_pinyin: bool = False
) -> Iterator[tuple[str, int]]:
    """Each deny-list word found in the folded text, with its index in the original."""
    norm = fold_plain(fld.text)
    folded = _folded_words(words)
    for wn, w in folded.items():
        start = 0
        while (pos := norm.find(wn, start)) >= 0:
            yield w, fold(fld.text)[1][pos]
            start = pos + 1
    if not by_pinyin:
        return
    terms = tuple(folded)
    pattern = pinyin_pattern(terms)
    if pattern is None:
        return
    names = pinyin_term_names(terms)
    # a match by pinyin has a Latin letter in it (the rest was found above): look only around
    # the runs of letters, not through the whole notice
    # a match starts at most a term's length of Han characters before a run of letters, and
    # ends at most a term's length of syllables (six letters each) after it
    reach = max(map(len, terms))
    seen: set[int] = set()
    for run in _LETTERS.finditer(norm):
        lo = max(0, run.start() - reach)
        for m in pattern.finditer(norm, lo, run.end() + 6 * reach):
            if m.lastgroup and m.start() not in seen and m.start() < run.end():
                seen.add(m.start())
                yield folded[names[int(m.lastgroup[1:])]], fold(fld.text)[1][m.start()]


# ------------------------------------------------------------------------------ rules


def _secret_markings(fields: list[Field_], cfg: LintConfig) -> Iterator[Finding]:
    for fld in fields:
        for word, i in _search(fld, SECRET_MARKINGS_BLOCK):
            yield make_finding(
                "secret-marking",
                Severity.BLOCK,
                f"secrecy marking '{word}': 涉密不上网、上网不涉密",
                fld,
                i,
                word,
            )
        for m in re.finditer(r"秘密(?:\s*[★☆*]|$)", fld.text, re.M):
            yield make_finding(
                "secret-marking",
                Severity.BLOCK,
                "secrecy marking '秘密★': 涉密不上网、上网不涉密",
                fld,
                m.start(),
                "秘密",
            )
        for word, i in _search(fld, SECRET_MARKINGS_WARN):
            yield make_finding(
                "secret-marking",
                Severity.WARN,
                f"'{word}' mentioned: check nothing classified is described",
                fld,
                i,
                word,
            )


def id_number_valid(s: str) -> bool:
    s = s.upper()
    if len(s) != 18 or not s[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != s[17]:
        return False
    month, day = int(s[10:12]), int(s[12:14])
    return 1 <= month <= 12 and 1 <= day <= 31 and 1900 <= int(s[6:10]) <= 2100


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _personal_data(fields: list[Field_], cfg: LintConfig) -> Iterator[Finding]:
    for fld in fields:
        if fld.name == "body" and fld.kind == Kind.SHOWN:
            continue  # the same digits as the source body (a leak is not an evasion)
        text = fld.text
        id_spans: list[tuple[int, int]] = []
        for m in _ID_RE.finditer(text):
            if id_number_valid(m[1]):
                id_spans.append(m.span(1))
                yield make_finding(
                    "id-number",
                    Severity.BLOCK,
                    "身份证号 (valid checksum): personal data must not be published",
                    fld,
                    m.start(1),
                    mask(m[1]),
                )
        for m in _CARD_RE.finditer(text):
            digits = re.sub(r"[ -]", "", m[1])
            if not 16 <= len(digits) <= 19 or any(a <= m.start(1) < b for a, b in id_spans):
                continue
            if luhn_valid(digits) and not digits.startswith("0"):
                yield make_finding(
                    "bank-card",
                    Severity.BLOCK,
                    "银行卡号 (passes Luhn): personal data must not be published",
                    fld,
                    m.start(1),
                    mask(digits),
                )
        for m in _MOBILE_RE.finditer(text):
            if any(a <= m.start(1) < b for a, b in id_spans):
                continue
            yield make_finding(
                "mobile",
                Severity.BLOCK,
                "手机号: personal contact data (office landlines are fine)",
                fld,
                m.start(1),
                mask(m[1]),
            )
        if cfg.student_id_pattern:
            for m in re.finditer(cfg.student_id_pattern, text):
                yield make_finding(
                    "student-id",
                    cfg.student_id_severity,
                    "学号 (matches review.student_id_pattern)",
                    fld,
                    m.start(),
                    mask(m[0]),
                )


def _spam(fields: list[Field_], cfg: LintConfig) -> Iterator[Finding]:
    words = tuple(dict.fromkeys(DEFAULT_DENY_LIST + cfg.deny_list))
    for fld in fields:
        for word, i in _search(fld, words, by_pinyin=True):
            yield make_finding(
                "spam",
                Severity.BLOCK,
                f"gambling/black-hat SEO term '{word}' (matched after normalising "
                "full-width, 繁体, hidden characters and emoji)",
                fld,
                i,
                word,
            )


def _hidden(fields: list[Field_], cfg: LintConfig) -> Iterator[Finding]:
    for fld in fields:
        if fld.kind == Kind.SHOWN:
            continue
        for m in BIDI_CONTROLS.finditer(fld.text):
            yield make_finding(
                "hidden-text",
                Severity.BLOCK,
                f"bidirectional control U+{ord(m[0]):04X} can make text read "
                "differently from what is shown",
                fld,
                m.start(),
                "",
            )
        positions = invisible_at(fld.text)
        if positions:
            yield make_finding(
                "hidden-text",
                Severity.WARN,
                f"{len(positions)} invisible character(s) (zero-width or similar)",
                fld,
                positions[0],
                "",
            )


def _emoji(fields: list[Field_], cfg: LintConfig) -> Iterator[Finding]:
    if cfg.emoji == "off":
        return
    sev = Severity(cfg.emoji)
    for fld in fields:
        if fld.kind != Kind.SOURCE:
            continue
        positions = emoji_at(fld.text)
        if positions:
            chars = "".join(dict.fromkeys(fld.text[i] for i in positions))[:8]
            yield make_finding(
                "emoji",
                sev,
                f"{len(positions)} emoji in formal text (spam uses them to dodge filters)",
                fld,
                positions[0],
                chars,
            )


def _required_name(notice: Notice, own: list[Field_], cfg: LintConfig) -> Iterator[Finding]:
    if not cfg.require_school_name:
        return
    names = (cfg.school_name, *cfg.school_name_aliases)
    if not any(fold_plain(n) in fold_plain(f.text) for f in own for n in names):
        anchor = own[0] if own else Field_("title", notice.title, notice.lines.get("title"))
        yield make_finding(
            "school-name",
            Severity.BLOCK,
            f"the official school name '{cfg.school_name}' does not appear",
            anchor,
            0,
            "",
        )


def link_targets(notice: Notice, fields: Sequence[Field_]) -> list[tuple[Field_, str]]:
    """Every link a reader could follow: what the renderer emits (inline, autolink, reference,
    image), URLs in the visible text a reader's app may link, and the front matter's."""
    ln = notice.lines
    out: list[tuple[Field_, str]] = []
    first = ln.get("body")
    for offset, url in shown_body(notice.body).links:
        line = None if first is None else first + offset
        out.append((Field_("body", url, line, kind=Kind.SHOWN), url))
    for offset, url in source_links(notice.body):
        line = None if first is None else first + offset
        out.append((Field_("body", url, line), url))
    for fld in fields:
        if fld.name == "body" and fld.kind == Kind.SOURCE:
            continue  # its visible URLs are in the shown body; its link syntax was read above
        for i, url in bare_urls(fld.text):
            out.append((fld, url) if i == 0 else (_at_index(fld, i), url))
    if notice.url:
        out.append((Field_("url", notice.url, ln.get("url")), notice.url))
    for i, link in enumerate(notice.links):
        out.append((Field_(f"links.{i}", link.url, ln.get(f"links.{i}")), link.url))
    for i, a in enumerate(notice.attachments):
        if not a.is_local:
            out.append((Field_(f"attachments.{i}", a.href, ln.get(f"attachments.{i}")), a.href))
    return out


def _at_index(fld: Field_, i: int) -> Field_:
    """``fld`` narrowed to start at ``i``, so a finding lands on the link's own line."""
    if fld.line is None or "\n" not in fld.text[:i]:
        return fld
    line = fld.line + fld.text[:i].count("\n")
    return Field_(fld.name, fld.text[i:], line, fld.file, fld.kind)


def _links(targets: list[tuple[Field_, str]], cfg: LintConfig) -> Iterator[Finding]:
    for fld, url in targets:
        problem = link_problem(url, cfg.base_url, cfg.allowed_domains)
        if problem:
            yield make_finding("link-domain", Severity.BLOCK, problem, fld, 0, url[:80])


RULES: tuple[Callable[[list[Field_], LintConfig], Iterator[Finding]], ...] = (
    _secret_markings,
    _personal_data,
    _spam,
    _hidden,
    _emoji,
    school_name,
    cited_titles,
    promotion,
)
