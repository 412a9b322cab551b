"""Continuous batching with chunked prefill, preemption by recompute, and cancellation.

Each step first gives every running sequence its next chunk, oldest first (a decoding sequence
needs one token, a prefilling one as many as the token budget allows), then admits waiting
sequences while budget, sequence slots and pages last. A sequence is admitted with pages for its
whole current token list (prefix-cache hits included); generation adds a page every 16 tokens, and
when none is free the newest running sequence is preempted: its pages are released (the sealed
ones stay in the prefix cache) and it waits to be recomputed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from codepager.engine.block_manager import BlockManager
from codepager.engine.segments import SegmentHandle, SegmentRegistry
from codepager.engine.sequence import Sequence, SequenceStatus, Span
from codepager.errors import RequestError


@dataclass(slots=True)
class ScheduledChunk:
    """Positions [start, end) of `seq` go through the model this step (own tokens only)."""

    seq: Sequence
    start: int
    end: int

    @property
    def positions(self) -> list[int]:
        return self.seq.own_positions(self.start, self.end)

    @property
    def samples(self) -> bool:
        return self.end == len(self.seq) and not self.seq.encode_only


class Scheduler:
    def __init__(
        self, block_manager: BlockManager, *, max_num_seqs: int, max_num_batched_tokens: int,
        max_model_len: int, eos_token_ids: list[int],
    ) -> None:
        self.block_manager = block_manager
        self.segments = SegmentRegistry(block_manager)
        self.max_num_seqs = max_num_seqs
        self.max_num_batched_tokens = max_num_batched_tokens
        self.max_model_len = max_model_len
        self.eos_token_ids = list(eos_token_ids)
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.tokens_computed = 0
        self.num_preemptions = 0
        # (seq, blended span) -> positions to recompute; runs a probe pass, set by the engine
        self.select_blend: Callable[[Sequence, Span], list[int]] | None = None

    def is_finished(self) -> bool:
        return not self.waiting and not self.running

    def add(self, seq: Sequence) -> None:
        if len(seq) > self.max_model_len:
            raise RequestError(f"prompt has {len(seq)} tokens, more than the context of {self.max_model_len}")
        if seq.num_pages() > self.block_manager.num_pages:
            raise RequestError(
                f"prompt needs {seq.num_pages()} KV pages, the pool has {self.block_manager.num_pages}")
        for handle in seq.segments:
            if handle.holders <= 0:
                raise RequestError(f"segment {handle.segment_id} was released")
        for handle in seq.segments:
            self.segments.acquire(handle)
        self.waiting.append(seq)

    # -- one step -----------------------------------------------------------------------------

    def schedule(self) -> list[ScheduledChunk]:
        budget = self.max_num_batched_tokens
        chunks: list[ScheduledChunk] = []
        preempted = False
        for seq in list(self.running):
            if budget == 0:
                break
            if seq.status is not SequenceStatus.RUNNING:
                continue  # preempted earlier in this loop
            while not self.block_manager.can_append(seq):
                victim = self.running[-1]
                self._preempt(victim)
                preempted = True
                if victim is seq:
                    break
            if seq.status is not SequenceStatus.RUNNING:
                break
            self.block_manager.may_append(seq)
            budget -= self._add_chunk(chunks, seq, budget)
        while self.waiting and budget > 0 and len(self.running) < self.max_num_seqs and not preempted:
            seq = self.waiting[0]
            if not self.block_manager.can_allocate(seq):
                break
            self.waiting.popleft()
            self.block_manager.allocate(seq)
            seq.status = SequenceStatus.RUNNING
            self.running.append(seq)
            budget -= self._add_chunk(chunks, seq, budget)
        if not chunks and not self.running and self.waiting and not preempted:
            # alone with every page it could get and still not admitted: it can never fit
            self.finish(self.waiting[0], "length")
        return chunks

    def _add_chunk(self, chunks: list[ScheduledChunk], seq: Sequence, budget: int) -> int:
        while (span := seq.pending_blend_span()) is not None:
            assert self.select_blend is not None, "blended segments need the engine's selector"
            seq.set_blend_selection(span, self.select_blend(seq, span))
        chunk = ScheduledChunk(seq, seq.num_computed_tokens, seq.chunk_end(budget))
        chunks.append(chunk)
        return len(chunk.positions)

    def reserve_ahead(self, seqs: list[Sequence], steps: int) -> int:
        """Pages for `steps` decode steps of each sequence (the positions up to len + steps - 2),
        fewer steps where free pages run short (a burst never preempts); the steps reserved."""
        bm = self.block_manager
        while steps > 1 and sum(bm.pages_to_reserve(s, len(s) + steps - 1) for s in seqs) > bm.num_free_pages:
            steps -= 1
        if steps > 1:
            for seq in seqs:
                bm.reserve(seq, len(seq) + steps - 1)
        return steps

    def postprocess(self, chunks: list[ScheduledChunk], sampled: dict[int, int]) -> None:
        """Record this step's progress; `sampled` maps seq_id -> token for chunks that sample."""
        for chunk in chunks:
            seq = chunk.seq
            if seq.status is not SequenceStatus.RUNNING:
                continue
            positions = chunk.positions
            self.tokens_computed += len(positions)
            seq.prompt_tokens_computed += sum(1 for p in positions if p < seq.num_prompt_tokens)
            seq.set_computed(chunk.end)
            self.block_manager.commit_computed_pages(seq)
            if chunk.end < len(seq):
                continue
            if seq.encode_only:
                self._finish_segment(seq)
                continue
            token = sampled[seq.seq_id]
            seq.append_token(token)
            reason = self._stop_reason(seq, token)
            if reason is not None:
                self.finish(seq, reason)

    def _stop_reason(self, seq: Sequence, token: int) -> str | None:
        params = seq.params
        stop_ids = params.stop_token_ids if params.stop_token_ids is not None else self.eos_token_ids
        if not params.ignore_eos and token in stop_ids:
            return "stop"
        if seq.num_completion_tokens >= params.max_tokens or len(seq) > self.max_model_len:
            return "length"
        return None

    # -- ending and pausing -------------------------------------------------------------------

    def finish(self, seq: Sequence, reason: str) -> None:
        """End a sequence now (stop, length, cancelled...): its pages are released at once."""
        if seq.status is SequenceStatus.FINISHED:
            return
        if seq.status is SequenceStatus.RUNNING:
            self.running.remove(seq)
        else:
            self.waiting.remove(seq)
        if seq.block_table:
            self.block_manager.deallocate(seq)
        for handle in seq.segments:
            self.segments.release(handle)
        seq.status = SequenceStatus.FINISHED
        seq.finish_reason = reason

    def cancel(self, seq: Sequence) -> None:
        self.finish(seq, "cancelled")

    def _finish_segment(self, seq: Sequence) -> None:
        """An encoded segment keeps its pages: their references pass to the segment's handle."""
        self.running.remove(seq)
        seq.segment_handle = self._adopt_segment(seq)
        seq.reset_progress()
        seq.status = SequenceStatus.FINISHED
        seq.finish_reason = "encoded"

    def _adopt_segment(self, seq: Sequence) -> SegmentHandle:
        own = seq.spans[-1]  # the segment's tokens; a preamble before them is not part of the handle
        tokens, preamble = seq.token_ids[own.start:], seq.token_ids[:own.start]
        pages = seq.block_table[own.first_page:]
        self.block_manager.unref_pages(seq.block_table[:own.first_page])
        live = self.segments.live_for(tokens, preamble)
        if live is not None:  # encoded twice concurrently: keep the first
            self.block_manager.unref_pages(pages)
            self.segments.acquire(live)
            return live
        return self.segments.register(tokens, pages, preamble)

    def _preempt(self, seq: Sequence) -> None:
        self.running.remove(seq)
        self.block_manager.deallocate(seq)
        seq.status = SequenceStatus.WAITING
        seq.num_preemptions += 1
        self.num_preemptions += 1
        self.waiting.appendleft(seq)

    def holders(self) -> list[list[int]]:
        """Every page reference held (sequences and live segments), for invariant checks."""
        tables = [seq.block_table for seq in self.running]
        tables += [list(h.page_ids) for h in self.segments.live.values()]
        return tables
