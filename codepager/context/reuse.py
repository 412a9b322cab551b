"""How an assembled prompt reaches the engine: the reuse modes.

- prefix (exact): one token list; the engine's prefix cache reuses the leading pages that match an
  earlier prompt, so a stable repository part is computed once and only the changed tail after it.
- segments: each context item is a position-independent segment (computed once at local positions,
  attending only to itself, placed at its offset with exact RoPE); naive, measured to lose quality.
- segments+preamble: each item is encoded after a shared preamble (the prompt's header: BOS / repo
  name), so no segment's first tokens act as an attention sink of their own. The engine places a
  segment whole, so the preamble is repeated before every item in the prompt.
- segments+head (EPIC-style): each item's first `head_tokens` tokens are computed in context (plain
  tokens of the request), the rest comes from a segment encoded standalone.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from codepager.context.assembler import AssembledContext
from codepager.context.candidates import GRAPH_OUTLINE, IMPORT_OUTLINE, IMPORTER_OUTLINE, RECENT_OUTLINE

PREFIX = "prefix"
SEGMENTS = "segments"
PREAMBLE = "segments+preamble"
HEAD = "segments+head"
REUSE_MODES = (PREFIX, SEGMENTS, PREAMBLE, HEAD)
HEAD_TOKENS = 16  # one page: the recomputed head fills whole pages
# Outlines are the repository's global tokens: the segments worth persisting across restarts.
OUTLINE_SOURCES = frozenset({IMPORT_OUTLINE, IMPORTER_OUTLINE, GRAPH_OUTLINE, RECENT_OUTLINE})


class SegmentEngine(Protocol):
    def encode_segment(self, token_ids: list[int]) -> Any: ...

    def release_segment(self, handle: Any) -> None: ...


@dataclass(slots=True)
class PromptPlan:
    parts: list[Any]  # token lists and segment handles, as LLMEngine.add_request takes them
    item_reused: list[bool] = field(default_factory=list)  # per context item: its KV was already there
    item_offsets: list[tuple[int, int]] = field(default_factory=list)  # per item: [start, end) in the prompt

    @property
    def num_tokens(self) -> int:
        return sum(len(p) for p in self.parts)


class Persistence(Protocol):
    def restore(self, token_ids: Sequence[int]) -> Any | None: ...

    def save(self, handle: Any) -> int: ...

    def note_compute(self, tokens: int, seconds: float) -> None: ...


class SegmentCache:
    """Live segment handles by token content, least recently used released first. A released handle's
    full pages stay in the engine's prefix cache, so re-encoding the same tokens is usually cheap.
    With a persistence, segments asked for with persist=True are restored from disk instead of
    computed when stored, and saved after they are computed."""

    def __init__(self, engine: SegmentEngine, capacity: int = 256,
                 persistence: Persistence | None = None) -> None:
        self.engine = engine
        self.capacity = capacity
        self.persistence = persistence
        self.restored = 0
        self._handles: OrderedDict[tuple[int, ...], tuple[Any, str]] = OrderedDict()  # tokens -> handle, path

    def __len__(self) -> int:
        return len(self._handles)

    def get(self, tokens: Sequence[int], path: str = "", *, persist: bool = False) -> tuple[Any, bool]:
        """(handle, reused): reused is True when the segment's KV was not computed now."""
        key = tuple(tokens)
        found = self._handles.get(key)
        if found is not None:
            self._handles.move_to_end(key)
            return found[0], True
        handle = self.persistence.restore(key) if (persist and self.persistence is not None) else None
        reused = handle is not None
        if handle is None:
            started = time.perf_counter()
            handle = self.engine.encode_segment(list(tokens))
            if persist and self.persistence is not None:
                self.persistence.note_compute(len(key), time.perf_counter() - started)
                self.persistence.save(handle)
        else:
            self.restored += 1
        self._handles[key] = (handle, path)
        while len(self._handles) > self.capacity:
            _, (old, _) = self._handles.popitem(last=False)
            self.engine.release_segment(old)
        return handle, reused

    def adopt(self, tokens: Sequence[int], handle: Any, path: str = "") -> None:
        """Take over a handle made elsewhere (restored from disk)."""
        self._handles[tuple(tokens)] = (handle, path)

    def contains(self, tokens: Sequence[int]) -> bool:
        return tuple(tokens) in self._handles

    def drop_path(self, path: str) -> int:
        """Release every segment of one file (it changed); returns how many."""
        keys = [k for k, (_, p) in self._handles.items() if p == path]
        for key in keys:
            handle, _ = self._handles.pop(key)
            self.engine.release_segment(handle)
        return len(keys)

    def clear(self) -> None:
        for handle, _ in self._handles.values():
            self.engine.release_segment(handle)
        self._handles.clear()


def plan_prompt(context: AssembledContext, mode: str, segments: SegmentCache | None) -> PromptPlan:
    if mode not in REUSE_MODES:
        raise ValueError(f"unknown reuse mode {mode!r}")
    if mode == PREFIX or not context.items:
        return _plan_prefix(context)
    assert segments is not None, "segment modes need a segment cache"
    plan = PromptPlan([])
    position = 0

    def add(part: Any) -> None:
        nonlocal position
        if isinstance(part, list) and not part:
            return
        if isinstance(part, list) and plan.parts and isinstance(plan.parts[-1], list):
            plan.parts[-1] = plan.parts[-1] + part
        else:
            plan.parts.append(part)
        position += len(part)

    if mode != PREAMBLE:
        add(list(context.header))
    for item in context.items:
        start = position
        persist = item.source in OUTLINE_SOURCES
        if mode == SEGMENTS:
            handle, reused = segments.get(item.tokens, item.path, persist=persist)
            add(handle)
        elif mode == PREAMBLE:
            preamble = list(context.header) or item.tokens[:1]
            handle, reused = segments.get(preamble + item.tokens, item.path, persist=persist)
            add(handle)
            start = position - len(item.tokens)
        else:  # HEAD
            head, tail = item.tokens[:HEAD_TOKENS], item.tokens[HEAD_TOKENS:]
            add(list(head))
            reused = True
            if tail:
                handle, reused = segments.get(tail, item.path, persist=persist)
                add(handle)
        plan.item_reused.append(reused)
        plan.item_offsets.append((start, position))
    add(list(context.current))
    return plan


def _plan_prefix(context: AssembledContext) -> PromptPlan:
    ids = context.token_ids()
    offsets = []
    position = len(context.header)
    for item in context.items:
        offsets.append((position, position + len(item.tokens)))
        position += len(item.tokens)
    return PromptPlan([ids], [False] * len(context.items), offsets)
