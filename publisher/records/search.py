"""Full-text search over the published notices (the site's 搜索).

Chinese is written without spaces, so text is cut into words (``rjieba``: jieba's dictionary
and HMM, in Rust) before the database sees it. A notice is indexed in *search* mode (every
word and the shorter dictionary words inside it: 录取名单 → 录取, 名单, 录取名单), a query in
*precise* mode; each query word matches either itself or all of its shorter words, so a query
still finds a notice whose sentence was cut a little differently. Every word must match.

The index holds each approved, not withdrawn notice's newest approved version, exactly the text
readers see (title, summary, body as plain text, department, 文号, attachment titles);
visibility (published, not expired, not withdrawn) is checked again in the query, so an index
a moment behind can never show what the site no longer shows.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import rjieba

from publisher.model import PublishedNotice
from publisher.store import SearchDocRow, SearchHit
from publisher.store.catalogue import CatalogueQueries
from publisher.text import plain_text

MAX_QUERY = 100  # characters of a query that are used
PAGE = 20


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def words(text: str) -> list[str]:
    """The words a text is indexed under (search mode), in order, repeats kept for ranking."""
    return [w for w in (t.strip() for t in rjieba.cut_for_search(_norm(text))) if _is_word(w)]


def query_terms(query: str) -> list[tuple[str, tuple[str, ...]]]:
    """Each word of a query with the shorter words it may match instead (all of them)."""
    terms: dict[str, tuple[str, ...]] = {}
    for w in rjieba.cut(_norm(query[:MAX_QUERY])):
        w = w.strip()
        if not _is_word(w) or w in terms:
            continue
        parts = tuple(p for p in rjieba.cut_for_search(w) if p != w and _is_word(p))
        terms[w] = parts if len(parts) > 1 else ()
    return list(terms.items())


def readable_text(v: PublishedNotice) -> str:
    n = v.notice
    return "\n".join(x for x in (n.summary, plain_text(n.body)) if x)


def search_doc(v: PublishedNotice) -> SearchDocRow:
    n = v.notice
    body = readable_text(v)
    extra = " ".join([n.department, n.doc_no, *(a.title for a in n.attachments)])
    return SearchDocRow(
        notice_id=n.id,
        sha256=v.sha256,
        title=n.title,
        department=n.department,
        category=n.category,
        item=n.item,
        publish_at=n.publish_at,
        expires_at=n.expires_at,
        url=v.url,
        text=body,
        # the title twice: a word of the title counts for more than one in the body
        tokens=" ".join(words(n.title) * 2 + words(body) + words(extra)),
    )


@dataclass(frozen=True)
class Snippet:
    parts: tuple[tuple[str, bool], ...]  # (text, is a match), for the template to escape


@dataclass(frozen=True)
class Result:
    hit: SearchHit
    snippet: Snippet


@dataclass(frozen=True)
class SearchPage:
    query: str
    total: int
    page: int
    pages: int
    results: tuple[Result, ...]


def snippet(text: str, terms: Sequence[str], width: int = 80) -> Snippet:
    """A piece of ``text`` around the first match, with the matches marked."""
    flat = " ".join(text.split())
    low = _norm(flat)
    # NFKC can change lengths (full-width letters do not, ligatures do); fall back to the start
    aligned = len(low) == len(flat)
    found = [low.find(t) for t in terms if t] if aligned else []
    hits = [i for i in found if i >= 0]
    start = max(0, min(hits) - width // 4) if hits else 0
    piece = flat[start : start + width]
    lowp = low[start : start + width] if aligned else ""
    marks = [False] * len(piece)
    for t in sorted(terms, key=len, reverse=True):
        i = lowp.find(t) if t else -1
        while i >= 0:
            for k in range(i, min(i + len(t), len(piece))):
                marks[k] = True
            i = lowp.find(t, i + len(t))
    parts: list[tuple[str, bool]] = []
    for ch, m in zip(piece, marks, strict=True):
        if parts and parts[-1][1] == m:
            parts[-1] = (parts[-1][0] + ch, m)
        else:
            parts.append((ch, m))
    if start > 0:
        parts.insert(0, ("…", False))
    if start + width < len(flat):
        parts.append(("…", False))
    return Snippet(tuple(parts))


class Search:
    def __init__(self, store: CatalogueQueries) -> None:
        self.store = store

    def find(self, query: str, now: datetime, page: int = 1) -> SearchPage:
        query = " ".join(query.split())[:MAX_QUERY]
        terms = query_terms(query)
        if not terms:
            return SearchPage(query, 0, 1, 0, ())
        page = max(1, page)
        total, hits = self.store.search(terms, now, PAGE, (page - 1) * PAGE)
        flat = [t for t, _ in terms]
        return SearchPage(
            query,
            total,
            page,
            (total + PAGE - 1) // PAGE,
            tuple(Result(h, snippet(h.text, flat)) for h in hits),
        )
