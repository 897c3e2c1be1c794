"""Folding text for matching: what a reader would recognise as the same word, made the same string.

Spam and tampering hide behind characters that look or read alike. ``fold`` undoes each class
with a well-kept data source instead of hand tables:

- Unicode NFKC (full-width forms, Kangxi radicals such as ``⼤``, compatibility ideographs);
- every punctuation, symbol, separator, format and control character removed (``博！彩``,
  ``博【彩】``, ``博`彩```, zero-width joiners, emoji), so only letters and digits remain;
- look-alike letters folded to their ASCII prototype with the Unicode TR39 confusables data
  (package ``confusable-homoglyphs``): Cyrillic ``а``/Greek ``ο`` in Latin brand names;
- 繁体 and 异体 folded to 简体 with OpenCC's dictionaries (``hk2s`` then ``t2s``);
- lower case.

``fold`` returns, for every folded character, the index in the input it came from, so a match
is reported at its real place. Deny-list terms are also matched by pinyin (``pypinyin``):
``pinyin_pattern`` accepts each character of a term written as itself or as its syllable, so
``bocai``, ``博cai`` and ``BoCai`` all match 博彩.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from importlib import resources

import opencc
from pypinyin import Style, pinyin

# Unicode general categories a reader does not read as part of a word: punctuation (P*),
# symbols (S*: emoji, ★, +, ｀), separators (Z*), controls and format characters (Cc, Cf:
# zero-width space/joiner, bidi controls), unassigned, and combining marks (Mn/Me: variation
# selectors, tone marks once NFKD has split them off).
_DROPPED = ("P", "S", "Z", "Cc", "Cf", "Cn", "Co", "Cs", "Mn", "Me")

_HK2S = opencc.OpenCC("hk2s")
_T2S = opencc.OpenCC("t2s")


def _is_han(ch: str) -> bool:
    return "CJK UNIFIED IDEOGRAPH" in unicodedata.name(ch, "")


@lru_cache(maxsize=1)
def _confusable_prototypes() -> dict[str, str]:
    """Look-alike → prototype, from the TR39 data: only folds that make letters comparable.

    A non-ASCII letter whose homoglyphs include an ASCII letter or digit folds to it (Cyrillic
    а → a); a non-Han character that looks like a Han ideograph folds to the ideograph (⼝ → 口).
    ASCII itself is never folded (``1`` and ``l`` stay apart, or numbers would change)."""
    import confusable_homoglyphs

    data = json.loads(
        resources.files(confusable_homoglyphs).joinpath("confusables.json").read_text("utf-8")
    )
    out: dict[str, str] = {}
    for ch, glyphs in data.items():
        if len(ch) != 1 or ch.isascii() or _is_han(ch):
            continue
        protos = [g["c"] for g in glyphs if len(g["c"]) == 1]
        ascii_ = [c for c in protos if c.isascii() and c.isalnum()]
        han = [c for c in protos if _is_han(c)]
        if ascii_:
            out[ch] = ascii_[0].lower()
        elif han:
            out[ch] = han[0]
    return out


# ordinal → the character's folded form ('' when dropped): filled lazily, shared by every call,
# and usable as a str.translate table, so the folded text of a long notice is made at C speed
_TABLE: dict[int, str] = {}


# Capital I and small l look the same (TR39 gives both, and their look-alikes, the prototype
# l), so matching reads them as one letter, in the text and in the deny-list alike
_ASCII_FOLD = str.maketrans("l", "i")


def _fold_shape(ch: str) -> str:
    if ch.isascii():
        return ch.lower() if ch.isalnum() else ""
    nfkc = unicodedata.normalize("NFKC", ch)
    if len(nfkc) == 1 and nfkc.isascii() and nfkc.isalnum():
        return nfkc.lower()  # full-width ＫａｉＹｕｎ
    # a look-alike of a letter reads as that letter, whatever its category (Telugu ం is o)
    proto = _confusable_prototypes().get(ch)
    if proto is not None:
        return proto if not _is_han(proto) else (_T2S.convert(_HK2S.convert(proto)) or proto)[0]
    cat = unicodedata.category(ch)
    if cat.startswith(("P", "Z", "C", "M")) or ch.isspace():
        return ""
    # a symbol is dropped, unless it is a letter in disguise (the Kangxi radical ⼤ is 大, the
    # radical ⻁ looks like 虎); one that expands to several (㈱ → (株), ™ → TM) is a symbol
    if cat.startswith("S"):
        nfkc = _confusable_prototypes().get(nfkc, nfkc)
        if len(nfkc) != 1 or not nfkc.isalnum():
            return ""
    out = []
    for c in nfkc:
        if unicodedata.category(c).startswith(_DROPPED) or c.isspace():
            continue
        if not c.isascii():
            decomposed = unicodedata.normalize("NFKD", c)
            # Latin letters with accents or tone marks (ǎ, é) read as the bare letter
            if decomposed[0].isascii() and decomposed[0].isalpha():
                c = decomposed[0]
        c = _confusable_prototypes().get(c, c)
        if _is_han(c):
            c = (_T2S.convert(_HK2S.convert(c)) or c)[0]
        out.append(c.lower()[:1] if c.isalpha() else c)
    return "".join(out)


def fold_char(ch: str) -> str:
    """One character folded for matching ('' when a reader would not read it as a letter)."""
    f = _TABLE.get(ord(ch))
    if f is None:
        f = _TABLE[ord(ch)] = _fold_shape(ch).translate(_ASCII_FOLD)
    return f


# (bounded small: a 30,000-character text's index map is about a megabyte; the rules ask for
# the same few fields of one notice over and over, not for every notice ever reviewed)
@lru_cache(maxsize=64)
def fold(text: str) -> tuple[str, tuple[int, ...]]:
    """→ (folded text, index in ``text`` of each folded character). See the module docs."""
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        f = _TABLE.get(ord(ch))
        if f is None:
            f = fold_char(ch)
        if f:
            out.append(f)
            index.extend([i] * len(f))
    return "".join(out), tuple(index)


@lru_cache(maxsize=512)
def fold_plain(text: str) -> str:
    """``fold(text)[0]`` without the index map (``fold`` builds it only where a match needs
    a position)."""
    for ch in set(text):  # the distinct characters: a few thousand at most
        fold_char(ch)
    return text.translate(_TABLE)


@lru_cache(maxsize=4096)
def syllables(term: str) -> tuple[tuple[str, ...], ...]:
    """Every toneless pinyin reading of each character of ``term`` (() for non-Han ones)."""
    return tuple(
        tuple(pinyin(c, style=Style.NORMAL, heteronym=True)[0]) if _is_han(c) else () for c in term
    )


@lru_cache(maxsize=256)
def pinyin_pattern(folded_terms: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex matching any folded term with each Han character written as itself or its
    pinyin syllable (u: and v both accepted for ü). A term needs at least two Han characters:
    a single syllable would match inside ordinary words."""
    alts: list[str] = []
    for term in folded_terms:
        syl = syllables(term)
        if sum(1 for s in syl if s) < 2:
            continue
        parts = []
        for c, s in zip(term, syl, strict=True):
            if s:
                # pypinyin writes ü as v; folded text has u (ǖ → u)
                forms = sorted(
                    {f.translate(_ASCII_FOLD) for r in s for f in (r, r.replace("v", "u"))},
                    key=len,
                )[::-1]
                parts.append("(?:" + "|".join([re.escape(c), *map(re.escape, forms)]) + ")")
            else:
                parts.append(re.escape(c))
        alts.append(f"(?P<t{len(alts)}>{''.join(parts)})")
    if not alts:
        return None
    return re.compile("|".join(alts))


@lru_cache(maxsize=256)
def pinyin_term_names(folded_terms: tuple[str, ...]) -> list[str]:
    """The terms in the order of ``pinyin_pattern``'s groups."""
    return [t for t in folded_terms if sum(1 for s in syllables(t) if s) >= 2]
