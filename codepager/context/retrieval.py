"""Lexical retrieval of code similar to the lines before the cursor (RepoCoder / CrossCodeEval style).

Files are cut into windows of `window_lines` lines every `stride` lines; a query (the last
`window_lines` lines before the cursor) is scored against windows sharing at least one identifier,
through an inverted index, by identifier-set Jaccard or by BM25. Windows of a file are replaced as a
whole when the file changes; a file's windows are keyed by its content hash, so an unchanged file is
never re-cut.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from codepager.context.identifiers import identifier_set, identifiers

JACCARD = "jaccard"
BM25 = "bm25"


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: windows live in posting sets
class Window:
    path: str
    start_line: int  # 0-based, inclusive
    end_line: int  # 0-based, exclusive
    text: str
    terms: frozenset[str]
    counts: tuple[tuple[str, int], ...]  # term frequencies (BM25)
    length: int  # identifiers in the window

    @property
    def key(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"


@dataclass(frozen=True, slots=True)
class Hit:
    window: Window
    score: float


def cut_windows(path: str, text: str, window_lines: int, stride: int) -> list[Window]:
    lines = text.splitlines(keepends=True)
    windows: list[Window] = []
    start = 0
    while start < len(lines):
        end = min(start + window_lines, len(lines))
        chunk = "".join(lines[start:end])
        ids = identifiers(chunk)
        if ids:
            windows.append(Window(path, start, end, chunk, frozenset(ids), tuple(Counter(ids).items()),
                                  len(ids)))
        if end == len(lines):
            break
        start += stride
    return windows


class WindowIndex:
    """An inverted index from identifiers to the windows of every file that contain them."""

    def __init__(self, window_lines: int = 20, stride: int = 10, max_df_fraction: float = 0.25) -> None:
        if window_lines < 1 or not 1 <= stride <= window_lines:
            raise ValueError("window_lines must be >= 1 and 1 <= stride <= window_lines")
        self.window_lines = window_lines
        self.stride = stride
        self.max_df_fraction = max_df_fraction
        self._files: dict[str, tuple[str, list[Window]]] = {}  # path -> (content hash, windows)
        self._postings: dict[str, set[Window]] = defaultdict(set)
        self._total_length = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def paths(self) -> list[str]:
        return list(self._files)

    def content_hash(self, path: str) -> str | None:
        entry = self._files.get(path)
        return entry[0] if entry else None

    def set_file(self, path: str, text: str, content_hash: str) -> bool:
        """Index a file's text; returns False when it was already indexed with this content hash."""
        if self.content_hash(path) == content_hash:
            return False
        self.remove_file(path)
        windows = cut_windows(path, text, self.window_lines, self.stride)
        self._files[path] = (content_hash, windows)
        for window in windows:
            for term in window.terms:
                self._postings[term].add(window)
            self._total_length += window.length
        self._count += len(windows)
        return True

    def remove_file(self, path: str) -> None:
        entry = self._files.pop(path, None)
        if entry is None:
            return
        for window in entry[1]:
            for term in window.terms:
                posting = self._postings.get(term)
                if posting is not None:
                    posting.discard(window)
                    if not posting:
                        del self._postings[term]
            self._total_length -= window.length
        self._count -= len(entry[1])

    def search(self, query: str, *, k: int = 5, method: str = JACCARD,
               exclude_paths: Iterable[str] = (), min_score: float = 0.0) -> list[Hit]:
        """The k best windows for the query text, at most one per overlapping region of a file."""
        if k <= 0:
            return []
        excluded = set(exclude_paths)
        terms = identifier_set(query)
        limit = max(8, int(self.max_df_fraction * self._count))
        usable = [t for t in terms if 0 < len(self._postings.get(t, ())) <= limit]
        if method == JACCARD:
            scores = self._jaccard(terms, usable)
        elif method == BM25:
            scores = self._bm25(Counter(i for i in identifiers(query) if i in set(usable)))
        else:
            raise ValueError(f"unknown retrieval method {method!r}")
        ranked = sorted(((s, w) for w, s in scores.items() if w.path not in excluded and s > min_score),
                        key=lambda sw: (-sw[0], sw[1].path, sw[1].start_line))
        hits: list[Hit] = []
        for score, window in ranked:
            if any(h.window.path == window.path and h.window.start_line < window.end_line
                   and window.start_line < h.window.end_line for h in hits):
                continue
            hits.append(Hit(window, score))
            if len(hits) == k:
                break
        return hits

    def _jaccard(self, terms: frozenset[str], usable: list[str]) -> dict[Window, float]:
        shared: Counter[Window] = Counter()
        for term in usable:
            shared.update(self._postings[term])
        return {w: n / (len(terms) + len(w.terms) - n) for w, n in shared.items()}

    def _bm25(self, query_counts: Counter[str], k1: float = 1.2, b: float = 0.75) -> dict[Window, float]:
        avg = self._total_length / max(1, self._count)
        scores: dict[Window, float] = defaultdict(float)
        for term in query_counts:
            posting = self._postings[term]
            idf = math.log(1 + (self._count - len(posting) + 0.5) / (len(posting) + 0.5))
            for window in posting:
                tf = dict(window.counts)[term]
                scores[window] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * window.length / avg))
        return scores


def query_lines(prefix: str, lines: int) -> str:
    """The last `lines` lines before the cursor (the partial current line included)."""
    return "".join(prefix.splitlines(keepends=True)[-lines:])
