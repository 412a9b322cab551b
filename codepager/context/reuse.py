"""How an assembled prompt reaches the engine: the reuse modes.

- prefix (exact): one token list; the engine's prefix cache reuses the leading pages that match an
  earlier prompt, so a stable repository part is computed once and only the changed tail after it.
- segments: each context item is a position-independent segment (computed once at local positions,
  attending only to itself, placed at its offset with exact RoPE); naive, measured to lose quality.
- segments+preamble: each item is encoded after the prompt's header (BOS / repository name), which
  sits once at the start of the prompt; the segment's pages start at local position = header length,
  so no segment's first tokens act as an attention sink of their own.
- segments+head (EPIC): each item is a standalone segment placed with its first HEAD_TOKENS tokens
  recomputed in context at their true positions; only its pages from there on are attached.
- segments+blend (CacheBlend, one-step variant, see codepager/engine/blend.py): each item is a
  standalone segment whose BLEND_SHARE most deviating tokens (layer-1 K/V against full attention)
  are recomputed in context into request-private copies of its pages.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from codepager.context.assembler import AssembledContext
from codepager.context.candidates import GRAPH_OUTLINE, IMPORT_OUTLINE, IMPORTER_OUTLINE, RECENT_OUTLINE
from codepager.engine.segments import SegmentPlacement

PREFIX = "prefix"
SEGMENTS = "segments"
PREAMBLE = "segments+preamble"
HEAD = "segments+head"
BLEND = "segments+blend"
REUSE_MODES = (PREFIX, SEGMENTS, PREAMBLE, HEAD, BLEND)
HEAD_TOKENS = 16  # one page: the recomputed head replaces whole pages
BLEND_SHARE = 0.15  # CacheBlend's recompute ratio
# Outlines are the repository's global tokens: the segments worth persisting across restarts.
OUTLINE_SOURCES = frozenset({IMPORT_OUTLINE, IMPORTER_OUTLINE, GRAPH_OUTLINE, RECENT_OUTLINE})


class SegmentEngine(Protocol):
    def encode_segment(self, token_ids: list[int], preamble: Sequence[int] = ()) -> Any: ...

    def release_segment(self, handle: Any) -> None: ...


@dataclass(slots=True)
class PromptPlan:
    parts: list[Any]  # token lists and segment handles, as LLMEngine.add_request takes them
    item_reused: list[bool] = field(default_factory=list)  # per context item: its KV was already there
    item_offsets: list[tuple[int, int]] = field(default_factory=list)  # per item: [start, end) in the prompt
    encoded_tokens: int = 0  # placed segment tokens whose KV was computed for this prompt (misses)

    @property
    def num_tokens(self) -> int:
        return sum(_part_length(p) for p in self.parts)

    def reused_tokens(self, prompt_tokens_computed: int) -> int:
        """Prompt tokens whose KV existed before this request: neither computed by the request
        (prefix-cache misses, recomputed heads, blended tokens) nor encoded for it."""
        return max(0, self.num_tokens - prompt_tokens_computed - self.encoded_tokens)


def _part_length(part: Any) -> int:
    return len(part.handle) if isinstance(part, SegmentPlacement) else len(part)


class Persistence(Protocol):
    def restore(self, token_ids: Sequence[int], preamble: Sequence[int] = ()) -> Any | None: ...

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
        # (preamble, tokens) -> handle, path
        self._handles: OrderedDict[tuple[tuple[int, ...], tuple[int, ...]], tuple[Any, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._handles)

    def get(self, tokens: Sequence[int], path: str = "", *, persist: bool = False,
            preamble: Sequence[int] = ()) -> tuple[Any, bool]:
        """(handle, reused): reused is True when the segment's KV was not computed now."""
        key = (tuple(preamble), tuple(tokens))
        found = self._handles.get(key)
        if found is not None:
            self._handles.move_to_end(key)
            return found[0], True
        persisting = persist and self.persistence is not None
        handle = self.persistence.restore(key[1], key[0]) if persisting else None
        reused = handle is not None
        if handle is None:
            started = time.perf_counter()
            handle = self.engine.encode_segment(list(tokens), key[0])
            if persisting:
                self.persistence.note_compute(len(tokens), time.perf_counter() - started)
                self.persistence.save(handle)
        else:
            self.restored += 1
        self._handles[key] = (handle, path)
        while len(self._handles) > self.capacity:
            _, (old, _) = self._handles.popitem(last=False)
            self.engine.release_segment(old)
        return handle, reused

    def adopt(self, tokens: Sequence[int], handle: Any, path: str = "", preamble: Sequence[int] = ()) -> None:
        """Take over a handle made elsewhere (restored from disk)."""
        self._handles[(tuple(preamble), tuple(tokens))] = (handle, path)

    def contains(self, tokens: Sequence[int], preamble: Sequence[int] = ()) -> bool:
        return (tuple(preamble), tuple(tokens)) in self._handles

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
    header = list(context.header)
    plan = PromptPlan([header] if header else [])
    position = len(header)
    for item in context.items:
        preamble = header if mode == PREAMBLE else []
        persist = item.source in OUTLINE_SOURCES
        if mode == HEAD and len(item.tokens) <= HEAD_TOKENS:  # all head: plain tokens of the request
            plan.parts.append(list(item.tokens))
            reused = False
        else:
            handle, reused = segments.get(item.tokens, item.path, persist=persist, preamble=preamble)
            if mode == HEAD:
                plan.parts.append(handle.placed(recompute_head=HEAD_TOKENS))
            elif mode == BLEND:
                plan.parts.append(handle.placed(blend=BLEND_SHARE))
            else:
                plan.parts.append(handle)
            if not reused:
                plan.encoded_tokens += len(item.tokens) - (HEAD_TOKENS if mode == HEAD else 0)
        plan.item_reused.append(reused)
        plan.item_offsets.append((position, position + len(item.tokens)))
        position += len(item.tokens)
    plan.parts.append(list(context.current))
    return plan


def _plan_prefix(context: AssembledContext) -> PromptPlan:
    ids = context.token_ids()
    offsets = []
    position = len(context.header)
    for item in context.items:
        offsets.append((position, position + len(item.tokens)))
        position += len(item.tokens)
    return PromptPlan([ids], [False] * len(context.items), offsets)
