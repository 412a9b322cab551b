"""One request's tokens, its logical KV pages and its progress (plain Python, no torch).

A prompt is a list of parts: plain token lists, computed in the request's own pages, and segment
handles, whose pages were computed once at local positions and are placed here at their logical
offset (page_starts = offset + 16k, page_shifts = offset). Each run of own tokens starts on a
fresh page, so a page never mixes own tokens with segment tokens. Generated tokens extend the last
own run, which is why a prompt must end with plain tokens.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import Enum, auto

from codepager.engine.config import SamplingParams
from codepager.engine.segments import SegmentHandle
from codepager.errors import RequestError

PAGE_SIZE = 16

PromptPart = list[int] | SegmentHandle


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


@dataclass(frozen=True, slots=True)
class PageEntry:
    """One logical page: RoPE start of slot 0, tokens it holds (so far), shift, and for segment
    pages the physical page it must use."""

    start: int
    length: int
    shift: int
    segment_page: int | None
    sealed: bool  # holds its final content once computed (never appended to)


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
        self.num_computed_tokens = 0  # leading positions whose KV is in pages (segments count)
        self.num_cached_tokens = 0  # leading positions found in the prefix cache (KV not rewritten)
        self.num_committed_pages = 0  # leading pages whose hashes are registered or were hits
        self.prompt_tokens_computed = 0  # prompt tokens this request ran through the model (all tries)
        self.prompt_tokens_cached = 0  # prompt tokens served by the prefix cache (last admission)
        self.num_preemptions = 0
        self.segment_handle: SegmentHandle | None = None  # set when an encode_only sequence ends

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
                flush_own()
                self.spans.append(Span(len(self.token_ids), len(part.token_ids), part, page))
                page += len(part.page_ids)
                self.token_ids.extend(part.token_ids)
            else:
                pending.extend(int(t) for t in part)
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

    def num_pages(self) -> int:
        """Logical pages covering every current token (the last own run grows with generation)."""
        tail = self.spans[-1]
        return tail.first_page + pages_for(len(self.token_ids) - tail.start)

    def page_entry(self, index: int) -> PageEntry:
        if index < len(self._fixed_entries):
            return self._fixed_entries[index]
        tail = self.spans[-1]
        k = index - tail.first_page
        length = min(PAGE_SIZE, len(self.token_ids) - tail.start - PAGE_SIZE * k)
        sealed = length == PAGE_SIZE or self.encode_only
        return PageEntry(tail.start + PAGE_SIZE * k, length, 0, None, sealed)

    def page_entries(self) -> list[PageEntry]:
        tail = self.spans[-1]
        full, rest = divmod(len(self.token_ids) - tail.start, PAGE_SIZE)
        while len(self._tail_full_entries) < full:
            start = tail.start + PAGE_SIZE * len(self._tail_full_entries)
            self._tail_full_entries.append(PageEntry(start, PAGE_SIZE, 0, None, True))
        entries = self._fixed_entries + self._tail_full_entries[:full]
        if rest:
            entries.append(self.page_entry(len(entries)))
        return entries

    def _span_entries(self, span: Span) -> list[PageEntry]:
        """Pages of a span that no longer grows (every span but the last)."""
        pages = span.segment.page_ids if span.segment is not None else [None] * pages_for(span.length)
        shift = span.start if span.segment is not None else 0
        starts = range(span.start, span.start + span.length, PAGE_SIZE)
        end = span.start + span.length
        return [PageEntry(start, min(PAGE_SIZE, end - start), shift, page, True)
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
        """(logical page index, slot) of an own-token position."""
        span = self.span_at(position)
        assert span.segment is None, "segment positions have no own page"
        offset = position - span.start
        return span.first_page + offset // PAGE_SIZE, offset % PAGE_SIZE

    # -- progress -----------------------------------------------------------------------------

    def own_positions(self, lo: int, hi: int) -> list[int]:
        """Positions in [lo, hi) holding own tokens (the ones a forward pass computes)."""
        out: list[int] = []
        for span in self.spans:
            end = len(self.token_ids) if span is self.spans[-1] else span.start + span.length
            if span.segment is None and span.start < hi and end > lo:
                out.extend(range(max(lo, span.start), min(hi, end)))
        return out

    def chunk_end(self, budget: int) -> int:
        """End position of the next chunk computing at most `budget` own tokens."""
        position, left = self.num_computed_tokens, budget
        for span in self.spans:
            end = len(self.token_ids) if span is self.spans[-1] else span.start + span.length
            if end <= position or span.segment is not None:
                continue
            take = min(left, end - max(position, span.start))
            position, left = max(position, span.start) + take, left - take
            if left == 0:
                break
        return position

    def set_computed(self, position: int) -> None:
        """Everything before `position` has KV; segment spans starting there are KV already."""
        while position < len(self.token_ids):
            span = self.span_at(position)
            if span.segment is None or span.start != position:
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

    def append_token(self, token_id: int) -> None:
        self.token_ids.append(int(token_id))
