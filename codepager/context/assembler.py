"""Context assembly: from a cursor in a buffer, the prompt of repository context + the buffer.

Candidates come from several sources (see candidates.SOURCE_ORDER): outlines of the files the buffer
imports, of the files importing it, of files PageRank ranks high for it and of recently edited
files; definitions of identifiers just before the cursor, resolved through the symbol table; and
windows of code similar to the lines before the cursor. They fill a token budget in priority order
(similar code first: it is what measurably helps most; then definitions of the names just typed,
then outlines of imported files, then the rest) and sit in the prompt in source order (steadiest
first). The on-disk copy of the edited file is never a candidate: the buffer is the truth.

While the user types inside one region (the same top-level definition) and the candidates' top set
does not change materially, the previous selection is reused as it was (items whose file changed are
re-rendered in place), so consecutive prompts share their repository part token for token.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

from codepager.context.buffer import BufferCut, cut_buffer, region_key
from codepager.context.candidates import (
    DEFINITION,
    GRAPH_OUTLINE,
    IMPORT_OUTLINE,
    IMPORTER_OUTLINE,
    RECENT_OUTLINE,
    SIMILAR,
    ContextItem,
    RepoView,
)
from codepager.context.config import ContextConfig
from codepager.context.identifiers import identifiers
from codepager.context.prompt_format import PromptFormat, TokenizerLike, tokenize_pieces
from codepager.context.retrieval import WindowIndex, query_lines
from codepager.indexer.records import SYMBOL

# Budget filling order: what measurably helps most first.
FILL_ORDER = (SIMILAR, DEFINITION, IMPORT_OUTLINE, IMPORTER_OUTLINE, RECENT_OUTLINE, GRAPH_OUTLINE)


@dataclass(slots=True)
class AssembledContext:
    format: PromptFormat
    header: list[int]  # BOS / repository name
    items: list[ContextItem]  # other files' blocks, in prompt order
    current: list[int]  # the buffer part (FIM layout), after the items
    cut: BufferCut
    reused_selection: bool = False
    sources: dict[str, int] = field(default_factory=dict)

    @property
    def prompt_tokens(self) -> int:
        return len(self.header) + sum(len(i.tokens) for i in self.items) + len(self.current)

    def token_ids(self) -> list[int]:
        ids = list(self.header)
        for item in self.items:
            ids.extend(item.tokens)
        ids.extend(self.current)
        return ids


@dataclass(slots=True)
class _Selection:
    items: list[ContextItem]
    top_keys: frozenset[str]


class ContextAssembler:
    def __init__(self, view: RepoView, tokenizer: TokenizerLike, prompt_format: PromptFormat,
                 config: ContextConfig | None = None, *, bos_token_id: int | None = None,
                 max_prompt_tokens: int | None = None) -> None:
        self.view = view
        self.tokenizer = tokenizer
        self.format = prompt_format
        self.config = config or ContextConfig()
        self.bos_token_id = bos_token_id  # the caller knows whether the model wants BOS first
        self.max_prompt_tokens = max_prompt_tokens
        self.windows = WindowIndex(self.config.window_lines, self.config.window_stride)
        self._windows_synced = False
        self._selections: OrderedDict[tuple[str, str], _Selection] = OrderedDict()
        self._token_cache: OrderedDict[tuple[str, str], list[int]] = OrderedDict()
        self._recent: OrderedDict[str, None] = OrderedDict()

    # -- keeping up with the repository ----------------------------------------------------------

    def refresh_file(self, path: str) -> None:
        """Re-read one file after the index changed it (or drop it when it is gone)."""
        found = self.view.file_text(path)
        if found is None:
            self.windows.remove_file(path)
        else:
            self.windows.set_file(path, found[0], found[1])

    def sync_all(self) -> None:
        paths = set(self.view.file_paths())
        for gone in set(self.windows.paths()) - paths:
            self.windows.remove_file(gone)
        for path in sorted(paths):
            self.refresh_file(path)
        self._windows_synced = True

    def forget_selections(self) -> None:
        """Drop the kept selections (the next assembly anywhere chooses afresh)."""
        self._selections.clear()

    def note_edit(self, path: str) -> None:
        """The user edited this file: its outline becomes a 'recently edited' candidate elsewhere."""
        self._recent.pop(path, None)
        self._recent[path] = None
        while len(self._recent) > 8:
            self._recent.popitem(last=False)

    # -- assembly --------------------------------------------------------------------------------

    def assemble(self, path: str, text: str, offset: int, *, repo_context: bool = True) -> AssembledContext:
        """offset: the cursor as an index into text."""
        cfg = self.config
        cut = cut_buffer(text, offset, cfg)
        header = ([self.bos_token_id] if self.bos_token_id is not None else [])
        if repo_context:
            header += tokenize_pieces(self.tokenizer, self.format.repo_header(self.view.name))
        current = tokenize_pieces(self.tokenizer, self.format.current_file(path, cut.prefix, cut.suffix,
                                                                           order=self._order()))
        if not repo_context:
            return AssembledContext(self.format, header, [], current, cut)
        if not self._windows_synced:
            self.sync_all()
        budget = cfg.repo_budget_tokens
        if self.max_prompt_tokens is not None:
            budget = min(budget, self.max_prompt_tokens - len(header) - len(current))
        candidates = self._candidates(path, text[:offset], cut.cursor_line)
        top_keys = frozenset(c.key for c in candidates)
        region = (path, region_key(text, offset))
        previous = self._selections.get(region)
        reused = previous is not None and _overlap(previous.top_keys, top_keys) >= cfg.stable_overlap
        if reused:
            assert previous is not None
            items = self._refresh(previous.items, path, budget)
            selection = _Selection(items, previous.top_keys)
        else:
            items = self._fill(candidates, budget, previous.items if previous else [])
            selection = _Selection(items, top_keys)
        self._selections[region] = selection
        self._selections.move_to_end(region)
        while len(self._selections) > 64:
            self._selections.popitem(last=False)
        sources: dict[str, int] = {}
        for item in items:
            sources[item.source] = sources.get(item.source, 0) + 1
        return AssembledContext(self.format, header, list(items), current, cut, reused, sources)

    def _order(self) -> str:
        return self.config.fim_order if self.format.spm else "psm"

    def _candidates(self, path: str, before: str, cursor_line: int) -> list[ContextItem]:
        cfg = self.config
        found: list[ContextItem] = []
        hits = self.windows.search(query_lines(before, cfg.query_lines), k=cfg.similar_windows,
                                   method=cfg.retrieval, exclude_paths=[path], min_score=cfg.min_similarity)
        for hit in hits:
            w = hit.window
            found.append(ContextItem(w.key, w.path, f"lines {w.start_line + 1}-{w.end_line}", SIMILAR, w.text,
                                     _hash(w.text), hit.score, (w.start_line, w.end_line)))
        imported = [p for p in self.view.imports_of(path) if p != path]
        found += self._outlines(imported[: cfg.max_import_outlines], IMPORT_OUTLINE)
        found += self._definitions(path, before, cursor_line)
        importers = [p for p in self.view.importers_of(path) if p != path]
        found += self._outlines(importers[: cfg.max_importer_outlines], IMPORTER_OUTLINE)
        recent = [p for p in reversed(self._recent) if p != path]
        found += self._outlines(recent[:2], RECENT_OUTLINE)
        ranks = self.view.pagerank({path})
        ranked = sorted((p for p in ranks if p != path), key=lambda p: (-ranks[p], p))
        found += self._outlines(ranked[:2], GRAPH_OUTLINE)
        unique: dict[str, ContextItem] = {}
        for item in found:
            unique.setdefault(item.key, item)
        return list(unique.values())

    def _outlines(self, paths: list[str], source: str) -> list[ContextItem]:
        items = []
        for rank, p in enumerate(paths):
            outline = self.view.outline(p)
            if outline is not None and outline.text.strip():
                items.append(ContextItem(outline.id, p, "<outline>", source, outline.text,
                                         outline.content_hash, 1.0 / (rank + 1)))
        return items

    def _definitions(self, path: str, before: str, cursor_line: int) -> list[ContextItem]:
        """Segments defining the identifiers of the last lines before the cursor, nearest first."""
        lines = before.split("\n")[-self.config.identifier_lines:]
        names: list[str] = []
        for name in reversed(identifiers("\n".join(lines))):
            if name not in names:
                names.append(name)
        items: list[ContextItem] = []
        for rank, name in enumerate(names):
            for definition in self.view.resolve(path, name, cursor_line)[:1]:
                if definition.path == path:
                    continue
                segment = self.view.segment(definition.segment_id)
                if segment is None or segment.kind != SYMBOL:
                    continue
                items.append(ContextItem(segment.id, segment.path, segment.name or name, DEFINITION,
                                         segment.text, segment.content_hash, 1.0 / (rank + 1),
                                         (segment.start_line, segment.end_line + 1)))
            if len(items) >= self.config.max_definitions:
                break
        return items

    def _fill(self, candidates: list[ContextItem], budget: int,
              previous: list[ContextItem]) -> list[ContextItem]:
        by_source = {s: [c for c in candidates if c.source == s] for s in FILL_ORDER}
        chosen: list[ContextItem] = []
        used = 0
        for source in FILL_ORDER:
            for item in by_source[source]:
                item.tokens = self._tokens(item)
                size = len(item.tokens)
                too_big = size > self.config.max_item_tokens or used + size > budget
                if too_big or _mostly_covered(item, chosen):
                    continue
                chosen.append(item)
                used += size
        old_place = {item.key: i for i, item in enumerate(previous)}
        chosen.sort(key=lambda c: (c.source_rank, old_place.get(c.key, len(old_place)), -c.score, c.key))
        return chosen

    def _refresh(self, items: list[ContextItem], path: str, budget: int) -> list[ContextItem]:
        """The previous selection with every item's current text (same keys, same order)."""
        fresh: list[ContextItem] = []
        used = 0
        for item in items:
            current = self._current_version(item)
            if current is None or current.path == path:
                continue
            current.tokens = self._tokens(current)
            if used + len(current.tokens) > budget:
                continue
            fresh.append(current)
            used += len(current.tokens)
        return fresh

    def _current_version(self, item: ContextItem) -> ContextItem | None:
        if item.source == SIMILAR:
            found = self.view.file_text(item.path)
            if found is None:
                return None
            if self.windows.content_hash(item.path) != found[1]:
                self.windows.set_file(item.path, found[0], found[1])
            start, end = (int(n) for n in item.key.rsplit(":", 1)[1].split("-"))
            text = "".join(found[0].splitlines(keepends=True)[start:end])
            if not text.strip():
                return None
            return ContextItem(item.key, item.path, item.symbol, item.source, text, _hash(text), item.score,
                               item.lines)
        segment = self.view.segment(item.key)
        if segment is None:
            return None
        return ContextItem(item.key, item.path, item.symbol, item.source, segment.text, segment.content_hash,
                           item.score, (segment.start_line, segment.end_line + 1))

    def _tokens(self, item: ContextItem) -> list[int]:
        key = (item.path, item.content_hash)
        cached = self._token_cache.get(key)
        if cached is None:
            cached = tokenize_pieces(self.tokenizer, self.format.file_block(item.path, item.text))
            self._token_cache[key] = cached
            while len(self._token_cache) > 4096:
                self._token_cache.popitem(last=False)
        else:
            self._token_cache.move_to_end(key)
        return cached


def _mostly_covered(item: ContextItem, chosen: list[ContextItem]) -> bool:
    """Most of the item's lines are already in the prompt through chosen items of the same file."""
    if item.lines is None:
        return False
    start, end = item.lines
    covered = set()
    for other in chosen:
        if other.path == item.path and other.lines is not None:
            covered.update(range(max(start, other.lines[0]), min(end, other.lines[1])))
    return len(covered) >= 0.8 * max(1, end - start)


def _overlap(old: frozenset[str], new: frozenset[str]) -> float:
    if not old:
        return 1.0 if not new else 0.0
    return len(old & new) / len(old)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
