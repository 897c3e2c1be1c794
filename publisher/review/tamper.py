"""Structural signs of tampering: caught whatever the brand is called.

A deny-list only knows last week's brands. Injected copies of real documents give themselves
away by what they change and add:

- the official school name altered: written with 繁体/look-alike/radical characters, a
  homophone swapped in (南山师范大学 for 南山示范大学), a character changed after the place
  name, or 大学/学院/学校 exchanged; other institutions' names stay fine;
- a known title in 《》 (statutes, rules, the 清单) rewritten into a near miss;
- promotional patterns around a name: ``XX官方平台``, ``XX娱乐``, ``kaiyun体育``, bracketed
  slogans after a name, emoji sprinkled through formal text;
- a revision that changes the school name, a cited title or a link's host relative to the
  approved version.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import lru_cache

from rapidfuzz.distance import Levenshtein

from publisher.model import Finding, Severity
from publisher.review.fields import Field_, Kind, LintConfig, make_finding
from publisher.review.matching import fold, fold_plain, syllables
from publisher.review.urls import host_of
from publisher.text import emoji_at

_SUFFIXES = ("大学", "学院", "学校")
_SUFFIX_RE = re.compile("|".join(_SUFFIXES))
_TITLE_RE = re.compile(r"《([^《》\n]{2,80})》")


# ------------------------------------------------------------------------------ school name


def _homophones(a: str, b: str) -> bool:
    return bool(set(syllables(a)[0]) & set(syllables(b)[0]))


def _near_miss(cand: str, name: str) -> bool:
    """``cand`` reads as ``name`` altered: same length, every differing character either a
    homophone of the original or (past the place-name part, the first two characters) any
    single change; the type word 大学/学院/学校 may be exchanged as well."""
    if len(cand) != len(name) or cand == name:
        return False
    if cand[-2:] in _SUFFIXES and name[-2:] in _SUFFIXES:
        head_c, head_n = cand[:-2], name[:-2]
        if head_c == head_n:
            return True  # 南山示范学院 for 南山示范大学
    else:
        head_c, head_n = cand, name
    diffs = [i for i, (x, y) in enumerate(zip(head_c, head_n, strict=True)) if x != y]
    if not diffs:
        return True
    if all(_homophones(head_c[i], head_n[i]) for i in diffs):
        return True
    return len(diffs) == 1 and diffs[0] >= 2 and len(name) >= 6


def school_name(fields: Sequence[Field_], cfg: LintConfig) -> Iterator[Finding]:
    names = tuple(dict.fromkeys((cfg.school_name, *cfg.school_name_aliases)))
    folded_names = {fold_plain(n): n for n in names if fold_plain(n)}
    for fld in fields:
        folded = fold_plain(fld.text)
        covered = bytearray(len(folded) + 1)  # positions inside a correct occurrence
        # as many occurrences as written correctly: none is altered, no need to look closer
        exact = sum(fld.text.count(n) for n in names) >= sum(map(folded.count, folded_names))
        # written with other characters that fold to the name (示範, ⼤, Cyrillic letters)
        for fname in folded_names:
            start = 0
            while (pos := folded.find(fname, start)) >= 0:
                start = pos + 1
                end = pos + len(fname)
                covered[pos:end] = b"\1" * len(fname)
                if exact:
                    continue
                index = fold(fld.text)[1]
                raw = fld.text[index[pos] : index[end - 1] + 1]
                if "".join(raw.split()) not in names:
                    yield make_finding(
                        "school-name",
                        Severity.BLOCK,
                        f"'{raw}' is the school name written with altered characters "
                        f"(繁体, radicals or look-alikes); write '{cfg.school_name}'",
                        fld,
                        index[pos],
                        raw,
                    )
        longest = max(map(len, folded_names), default=0)
        for m in _SUFFIX_RE.finditer(folded):
            end = m.end()
            if any(covered[max(0, end - longest) : end]):
                continue  # part of, or overlapping, a correct occurrence
            for fname, name in folded_names.items():
                cand = folded[max(0, end - len(fname)) : end]
                if _near_miss(cand, fname):
                    index = fold(fld.text)[1]
                    raw = fld.text[index[end - len(fname)] : index[end - 1] + 1]
                    yield make_finding(
                        "school-name",
                        Severity.BLOCK,
                        f"'{raw}' looks like an altered form of the school name '{name}' "
                        "(add it to review.school_name_aliases if it is really ours)",
                        fld,
                        index[end - len(fname)],
                        raw,
                    )
                    break


# ------------------------------------------------------------------------------ titles


@lru_cache(maxsize=16)
def _known(titles: tuple[str, ...]) -> dict[str, str]:
    return {fold_plain(t): t for t in titles if fold_plain(t)}


def titles_in(text: str) -> list[tuple[int, str]]:
    return [(m.start(1), m[1]) for m in _TITLE_RE.finditer(text)]


def cited_titles(fields: Sequence[Field_], cfg: LintConfig) -> Iterator[Finding]:
    known = _known(cfg.known_titles)
    folded_known = list(known)
    for fld in fields:
        for pos, title in titles_in(fld.text):
            f = fold_plain(title)
            if f in known:
                if "".join(title.split()) != known[f]:
                    yield make_finding(
                        "title-altered",
                        Severity.BLOCK,
                        f"《{title}》 is 《{known[f]}》 written with altered characters",
                        fld,
                        pos,
                        title,
                    )
                continue
            if len(f) < 6:
                continue
            best, best_d = "", 99
            for k in folded_known:
                if abs(len(k) - len(f)) > 3:
                    continue
                d = Levenshtein.distance(f, k, score_cutoff=3)
                if d < best_d:
                    best, best_d = k, d
            if best and best_d <= max(1, min(3, len(best) // 6)):
                yield make_finding(
                    "title-altered",
                    Severity.BLOCK,
                    f"《{title}》 is a near miss of 《{known[best]}》: injected copies rewrite "
                    "the titles they cite (if it is a real title, add it to "
                    "review.known_titles)",
                    fld,
                    pos,
                    title,
                )


# ------------------------------------------------------------------------------ promotion

# what only a promotion puts after a name (found first; the name is then read backwards)
_PROMO_SUFFIX = re.compile(
    r"官方平台|官方网站|官网入口|官方入口|平台入口|网址入口|娱乐城|娱乐平台|娱乐|彩票|棋牌"
    r"|体育(?:官网|官方|平台|app|入口|注册|下载|登录)|国际(?:官网|平台|娱乐)"
)
_NAMELIKE = re.compile(r"[\u4e00-\u9fffa-z0-9]{2,8}$")
# (not 平台: "WebVPN平台", "MOOC平台" are everyday campus words)
_LATIN_BRAND = re.compile(r"(?<![a-z0-9])([a-z][a-z0-9]{1,15})(体育|娱乐|彩票|棋牌)")
# words only advertising puts in a bracket after a name ("入口", "下载" are everyday campus words)
_SLOGAN = re.compile(
    r"(信誉|首存|返水|彩金|秒到账|豪礼|大平台|值得信赖|安全稳定|官方认证|实力平台|正规平台|"
    r"信赖之选|品牌保障|火爆上线|注册就送|一站式娱乐)"
)
_BRACKETS = re.compile(r"[【〖「『]([^】〗」』\n]{2,40})[】〗」』]")
_LEADING = re.compile(
    r"^(?:欢迎|访问|登录|进入|来到|关于|加入|选择|认准|就在|尽在|点击|打开|下载)+"
)
_NAME_BEFORE = re.compile(r"([\u4e00-\u9fffA-Za-z0-9\u0400-\u04ff]{2,10})\s*$")


# words before 娱乐 that make an everyday phrase (文体娱乐活动), not a brand
_BENIGN_BEFORE = (
    "文化", "文体", "休闲", "健身", "体育", "康乐", "大众", "群众", "旅游", "影视", "文艺",
    "教育", "互动", "社交", "学习", "益智", "公益", "福利", "中国", "民族", "传统",
)  # fmt: skip


def _brand(name: str) -> str:
    return _LEADING.sub("", name) or name


def promotion(fields: Sequence[Field_], cfg: LintConfig) -> Iterator[Finding]:
    if cfg.promotion == "off":
        return
    sev = Severity(cfg.promotion)
    for fld in fields:
        folded = fold_plain(fld.text)
        for m in _PROMO_SUFFIX.finditer(folded):
            name = _NAMELIKE.search(folded, max(0, m.start() - 8), m.start())
            if name is None:
                continue  # nothing named before it
            suffix = m[0]
            if name[0].endswith(_BENIGN_BEFORE) and suffix in ("娱乐", "彩票", "棋牌"):
                continue
            index = fold(fld.text)[1]
            # the name as written: the run of letters before the suffix in the raw text
            lo = max(0, index[m.start()] - 24)
            written = _NAME_BEFORE.search(fld.text[lo : index[m.start()]])
            if written is None:
                continue
            # 娱乐/彩票/棋牌 are part of such a brand's name; 官方平台 and the like are not
            brand = _brand(written[1][-8:])
            brand += suffix if suffix in ("娱乐", "彩票", "棋牌", "娱乐城") else ""
            raw = fld.text[lo + written.start(1) : index[m.end() - 1] + 1]
            yield make_finding(
                "promotion",
                sev,
                f"'{raw}': promotion of '{brand}' ({suffix}) has no place in a formal notice",
                fld,
                lo + written.start(1),
                brand,
            )
        for m in _LATIN_BRAND.finditer(folded):
            yield make_finding(
                "promotion",
                sev,
                f"'{m[0]}': a Latin brand name before '{m[2]}' is how gambling sites advertise",
                fld,
                fold(fld.text)[1][m.start()],
                m[1],
            )
        for m in _BRACKETS.finditer(fld.text):
            if not _SLOGAN.search(fold_plain(m[1])):
                continue
            before = _NAME_BEFORE.search(fld.text[: m.start()])
            if before is None:
                continue  # a bracketed heading, not a slogan after a name
            brand = _brand(before[1])
            yield make_finding(
                "promotion",
                sev,
                f"bracketed slogan '{m[0]}' after '{brand}': injected advertising",
                fld,
                m.start(),
                brand,
            )
        if fld.kind != Kind.ATTACHMENT:
            emoji = emoji_at(fld.text)
            if len(emoji) >= 3 and len(emoji) * 200 >= len(fld.text):
                yield make_finding(
                    "promotion",
                    sev,
                    f"{len(emoji)} emoji in {len(fld.text)} characters of formal text: "
                    "sprinkled to defeat duplicate detection",
                    fld,
                    emoji[0],
                    "".join(dict.fromkeys(fld.text[i] for i in emoji))[:8],
                )


# ------------------------------------------------------------------------------ revisions


def link_hosts(urls: Sequence[str], base: str) -> set[str]:
    hosts = {host_of(u, base) for u in urls}
    return {h for h in hosts if h}


def revision(
    fields: Sequence[Field_],
    previous_fields: Sequence[Field_],
    hosts: set[str],
    previous_hosts: set[str],
    cfg: LintConfig,
) -> Iterator[Finding]:
    """What a revision may not change without a reviewer's explicit allowance."""
    anchor = fields[0]
    names = (cfg.school_name, *cfg.school_name_aliases)

    def has_name(flds: Sequence[Field_], field_name: str | None = None) -> bool:
        return any(
            fold_plain(n) in fold_plain(f.text)
            for f in flds
            for n in names
            if field_name is None or f.name == field_name
        )

    if has_name(previous_fields) and not has_name(fields):
        yield make_finding(
            "school-name",
            Severity.BLOCK,
            f"the official school name '{cfg.school_name}' was in the approved version and is "
            "gone from this one (a classic hijack)",
            anchor,
            0,
            "",
        )
    elif has_name(previous_fields, "title") and not has_name(fields, "title"):
        title = next((f for f in fields if f.name == "title"), anchor)
        yield make_finding(
            "revision",
            Severity.BLOCK,
            f"the approved title named '{cfg.school_name}'; this revision's title does not",
            title,
            0,
            title.text[:40],
        )
    before = {fold_plain(t) for f in previous_fields for _, t in titles_in(f.text)}
    if before:
        for fld in fields:
            for pos, cited in titles_in(fld.text):
                if fold_plain(cited) not in before:
                    yield make_finding(
                        "revision",
                        Severity.BLOCK,
                        f"《{cited}》 is cited in this revision but not in the approved version: "
                        "a changed title needs a reviewer's --allow revision",
                        fld,
                        pos,
                        cited,
                    )
    for host in sorted(hosts - previous_hosts):
        yield make_finding(
            "revision",
            Severity.BLOCK,
            f"this revision links to {host}, which the approved version did not",
            anchor,
            0,
            host,
        )
