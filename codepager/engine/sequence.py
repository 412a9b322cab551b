"""One request's tokens, its logical KV pages and its progress (plain Python, no torch).

A prompt is a list of parts: plain token lists, computed in the request's own pages, and segment
handles (or placements of them), whose pages were computed once at local positions base.. and are
placed here at their logical offset (page_starts = offset + 16k, page_shifts = offset - base). Each
run of own tokens starts on a fresh page, so a page never mixes own tokens with segment tokens.
Generated tokens extend the last own run, which is why a prompt must end with plain tokens.

A placement with recompute_head=N adds the segment's first N tokens to the own run before it and
places the segment's pages from page N/16 on. A blended placement gets private copies of the
segment's pages; once everything before it is computed, the engine picks which of its positions to
recompute (`set_blend_selection`) and those go through the model like own tokens, into the copies.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass
from enum import Enum, auto
from itertools import repeat
from typing import NamedTuple

from codepager.engine.config import SamplingParams
from codepager.engine.segments import PAGE_SIZE, SegmentHandle, SegmentPlacement
from codepager.errors import RequestError

__all__ = ["PAGE_SIZE", "PageEntry", "PromptPart", "Sequence", "SequenceStatus", "Span", "pages_for"]

PromptPart = list[int] | SegmentHandle | SegmentPlacement


class SequenceStatus(Enum):
    WAITING = auto()
    RUNNING = auto()
    FINISHED = auto()


@dataclass(frozen=True, slots=True)
class Span:
    """A run of logical positions [start, start + length) filled by own tokens or one segment."""

    start: int
    length: int
    segment: SegmentHandle | None
    first_page: int  # index of its first logical page in the sequence's page list
    skip: int = 0  # segment tokens before this span's first token (computed as own tokens)
    blend: float = 0.0  # share of the span's tokens recomputed in context (private page copies)

    @property
    def shift(self) -> int:
        """Logical minus stored RoPE position of the span's keys."""
        assert self.segment is not None
        return self.start - self.skip - self.segment.base

    @property
    def link_key(self) -> bytes:
        """What the prefix-cache chain hashes for this placed segment."""
        assert self.segment is not None
        key = self.segment.content_hash
        if self.skip:
            key += b"skip" + self.skip.to_bytes(8, "little")
        if self.blend:
            key += b"blend" + struct.pack("<d", self.blend)
        return key


class PageEntry(NamedTuple):
    """One logical page: RoPE start of slot 0, tokens it holds (so far), shift, and for segment
    pages the physical page it must use. A tuple: a 32k-token prompt has 2k of them per request."""

    start: int
    length: int
    shift: int
    segment_page: int | None
    sealed: bool  # holds its final content once computed (never appended to)
    blended: bool = False  # a private copy of segment_page (the request rewrites some slots)


def pages_for(num_tokens: int) -> int:
    return (num_tokens + PAGE_SIZE - 1) // PAGE_SIZE


class Sequence:
    _ids = itertools.count()

    def __init__(
        self, parts: list[PromptPart], params: SamplingParams, request_id: str | None = None,
        *, encode_only: bool = False,
    ) -> None:
        self.seq_id = next(Sequence._ids)
        self.request_id = request_id if request_id is not None else f"seq-{self.seq_id}"
        self.params = params
        self.encode_only = encode_only  # compute the prompt's KV, sample nothing (segments)
        self.token_ids: list[int] = []
        self.spans: list[Span] = []
        self._build_spans(parts)
        self.num_prompt_tokens = len(self.token_ids)
        self._fixed_entries = [e for span in self.spans[:-1] for e in self._span_entries(span)]
        self._tail_full_entries: list[PageEntry] = []
        self.status = SequenceStatus.WAITING
        self.finish_reason: str | None = None
        self.block_table: list[int] = []
        self.page_hashes: list[bytes] = []  # chain hashes of the leading sealed pages (memo)
        self.page_plan: object | None = None  # the block manager's last admission plan (memo)
        self.num_computed_tokens = 0  # leading positions whose KV is in pages (segments count)
        self.num_cached_tokens = 0  # leading positions found in the prefix cache (KV not rewritten)
        self.num_committed_pages = 0  # leading pages whose hashes are registered or were hits
        self.prompt_tokens_computed = 0  # prompt tokens this request ran through the model (all tries)
        self.prompt_tokens_cached = 0  # prompt tokens served by the prefix cache (last admission)
        self.num_preemptions = 0
        self.segment_handle: SegmentHandle | None = None  # set when an encode_only sequence ends
        self.blend_selected: dict[int, list[int]] = {}  # blended span start -> positions to recompute

    def _build_spans(self, parts: list[PromptPart]) -> None:
        pending: list[int] = []
        page = 0

        def flush_own() -> None:
            nonlocal page
            if pending:
                self.spans.append(Span(len(self.token_ids), len(pending), None, page))
                page += pages_for(len(pending))
                self.token_ids.extend(pending)
                pending.clear()

        for part in parts:
            if isinstance(part, SegmentHandle):
                part = SegmentPlacement(part)
            if isinstance(part, SegmentPlacement):
                handle, skip = part.handle, part.recompute_head
                pending.extend(handle.token_ids[:skip])
                if skip >= len(handle):
                    continue
                flush_own()
                start = len(self.token_ids)
                self.spans.append(Span(start, len(handle) - skip, handle, page, skip, part.blend))
                page += len(handle.page_ids) - skip // PAGE_SIZE
                self.token_ids.extend(handle.token_ids[skip:])
            else:
                if self.encode_only:
                    flush_own()  # a segment encoded after a preamble starts on a fresh page
                pending.extend(map(int, part))
        flush_own()
        if not self.token_ids:
            raise RequestError("empty prompt")
        if self.spans[-1].segment is not None:
            raise RequestError("a prompt must end with plain tokens, not a segment")

    # -- sizes --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def num_completion_tokens(self) -> int:
        return len(self.token_ids) - self.num_prompt_tokens

    @property
    def completion_token_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt_tokens:]

    @property
    def is_finished(self) -> bool:
        return self.status is SequenceStatus.FINISHED

    @property
    def segments(self) -> list[SegmentHandle]:
        return [span.segment for span in self.spans if span.segment is not None]

    # -- logical pages ------------------------------------------------------------------------

    def num_pages(self, length: int | None = None) -> int:
        """Logical pages covering every current token, or the first `length` positions once the
        sequence is that long (the last own run grows with generation)."""
        tail = self.spans[-1]
        return tail.first_page + pages_for((len(self.token_ids) if length is None else length) - tail.start)

    def page_entry(self, index: int) -> PageEntry:
        if index < len(self._fixed_entries):
            return self._fixed_entries[index]
        tail = self.spans[-1]
        k = index - tail.first_page
        if k < len(self._tail_full_entries):
            return self._tail_full_entries[k]
        length = min(PAGE_SIZE, len(self.token_ids) - tail.start - PAGE_SIZE * k)
        sealed = length == PAGE_SIZE or self.encode_only
        return PageEntry(tail.start + PAGE_SIZE * k, length, 0, None, sealed)

    def page_entries(self) -> list[PageEntry]:
        tail = self.spans[-1]
        full, rest = divmod(len(self.token_ids) - tail.start, PAGE_SIZE)
        known = len(self._tail_full_entries)
        if known < full:
            starts = range(tail.start + PAGE_SIZE * known, tail.start + PAGE_SIZE * full, PAGE_SIZE)
            fields = zip(starts, repeat(PAGE_SIZE), repeat(0), repeat(None), repeat(True), repeat(False))
            self._tail_full_entries.extend(map(tuple.__new__, repeat(PageEntry), fields))
        entries = self._fixed_entries + self._tail_full_entries[:full]
        if rest:
            entries.append(self.page_entry(len(entries)))
        return entries

    def _span_entries(self, span: Span) -> list[PageEntry]:
        """Pages of a span that no longer grows (every span but the last)."""
        if span.segment is not None:
            # a blended span's private copies get their keys re-rotated to the logical positions
            # (blend.py), so that keys recomputed in place agree with them: shift 0
            pages = span.segment.page_ids[span.skip // PAGE_SIZE:]
            shift = 0 if span.blend else span.shift
        else:
            pages, shift = [None] * pages_for(span.length), 0
        starts = range(span.start, span.start + span.length, PAGE_SIZE)
        end = span.start + span.length
        blended = span.blend > 0
        return [PageEntry(start, min(PAGE_SIZE, end - start), shift, page, True, blended)
                for start, page in zip(starts, pages, strict=True)]

    def page_tokens(self, index: int) -> list[int]:
        entry = self.page_entry(index)
        return self.token_ids[entry.start:entry.start + entry.length]

    def span_at(self, position: int) -> Span:
        for span in reversed(self.spans):
            if span.start <= position:
                return span
        raise IndexError(position)

    def page_of(self, position: int) -> tuple[int, int]:
        """(logical page index, slot) of an own-token position or of a blended segment position."""
        span = self.span_at(position)
        assert span.segment is None or span.blend, "segment positions have no own page"
        offset = position - span.start
        return span.first_page + offset // PAGE_SIZE, offset % PAGE_SIZE

    # -- progress -----------------------------------------------------------------------------

    def _span_end(self, span: Span) -> int:
        return len(self.token_ids) if span is self.spans[-1] else span.start + span.length

    def own_positions(self, lo: int, hi: int) -> list[int]:
        """Positions in [lo, hi) that a forward pass computes: own tokens and the selected
        positions of blended segments."""
        out: list[int] = []
        for span in self.spans:
            end = self._span_end(span)
            if span.start >= hi or end <= lo:
                continue
            if span.segment is None:
                out.extend(range(max(lo, span.start), min(hi, end)))
            elif span.blend:
                out.extend(p for p in self.blend_selected.get(span.start, ()) if lo <= p < hi)
        return out

    def chunk_end(self, budget: int) -> int:
        """End position of the next chunk computing at most `budget` positions; it stops before a
        blended segment whose positions are not selected yet."""
        position, left = self.num_computed_tokens, budget
        for span in self.spans:
            end = self._span_end(span)
            if end <= position:
                continue
            if span.segment is None:
                take = min(left, end - max(position, span.start))
                position, left = max(position, span.start) + take, left - take
            elif span.blend:
                selected = self.blend_selected.get(span.start)
                if selected is None:
                    return max(position, span.start)
                todo = [p for p in selected if p >= position]
                if len(todo) <= left:
                    position, left = end, left - len(todo)
                else:
                    position, left = todo[left - 1] + 1, 0
            if left == 0:
                break
        return position

    def pending_blend_span(self) -> Span | None:
        """The blended segment starting at the computed frontier whose positions are not chosen yet."""
        if self.num_computed_tokens >= len(self.token_ids):
            return None
        span = self.span_at(self.num_computed_tokens)
        if span.blend and span.start == self.num_computed_tokens and span.start not in self.blend_selected:
            return span
        return None

    def set_blend_selection(self, span: Span, positions: list[int]) -> None:
        assert all(span.start <= p < span.start + span.length for p in positions)
        self.blend_selected[span.start] = sorted(positions)
        self.set_computed(self.num_computed_tokens)

    def set_computed(self, position: int) -> None:
        """Everything before `position` has KV; segment spans starting there are KV already
        (a blended one only once its selection is made and empty)."""
        while position < len(self.token_ids):
            span = self.span_at(position)
            if span.segment is None or span.start != position:
                break
            if span.blend and self.blend_selected.get(span.start) != []:
                break
            position = span.start + span.length
        self.num_computed_tokens = position

    @property
    def num_uncomputed_tokens(self) -> int:
        return len(self.token_ids) - self.num_computed_tokens

    def reset_progress(self) -> None:
        """Forget every page (preemption by recompute): the whole token list is recomputed."""
        self.block_table = []
        self.num_computed_tokens = 0
        self.num_cached_tokens = 0
        self.num_committed_pages = 0
        self.blend_selected = {}

    def append_token(self, token_id: int) -> None:
        self.token_ids.append(int(token_id))
