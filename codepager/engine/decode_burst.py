"""Decode bursts: several greedy decode steps per host round trip.

A pure decode step (every chunk is the next token of a running, greedy sequence that keeps no
prompt logits, and nothing waits to be admitted) can run K steps back to back with one host
synchronisation at the end: step i+1's input token of each row is step i's argmax, fed on the
device. Nothing else a step needs depends on token values: positions, slot mapping and page lens of
every step are computed here up front, from pages reserved for all K tokens before the burst
(Scheduler.reserve_ahead). Afterwards the engine postprocesses the K tokens one step at a time
(stop ids, stop strings, max_tokens); tokens after a sequence finished are dropped. Their KV went
to slots the sequence owned, past its kept tokens, in pages that are freed with it and never
hashed (only pages whose tokens are all computed and kept are committed to the prefix cache).

K is clipped per burst so that no sequence runs a step it would not have run one step at a time:
to its remaining max_tokens and to the model length.

Bursts ahead: while the host waits for a burst's tokens and postprocesses them, the GPU would idle.
So the engine launches a burst of the next `decode_ahead` steps of the same sequences first, its
step 0 fed on the device by the last argmax of the running one (BurstPlanner.plan with `ahead` = the
running burst's steps). The next engine step runs it as its burst if it schedules those sequences
at those positions; otherwise it is dropped, which is safe for the same reason dropped burst tokens
are: its KV went to slots past every kept token, in pages the sequences own (reserved for both
bursts), and a later recomputation writes the same slots again. A dropped burst still occupies the
GPU before the next request's work: decode_ahead steps is the most a cancel wastes beyond the
running burst.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from codepager.engine.decode_batch import SeqPageCache, SeqPages, clear_rows, stage_row
from codepager.engine.scheduler import ScheduledChunk
from codepager.engine.sequence import PAGE_SIZE, Sequence

if TYPE_CHECKING:
    from codepager.engine.model_runner import LaunchedBurst


def pure_decode(chunks: list[ScheduledChunk]) -> bool:
    """Every chunk is the next token of a running greedy sequence that keeps no prompt logits."""
    for chunk in chunks:
        seq, params = chunk.seq, chunk.seq.params
        decoding = (chunk.end == len(seq) and chunk.start == chunk.end - 1
                    and chunk.start >= seq.num_prompt_tokens and not seq.encode_only)
        if not decoding or not params.greedy or params.keep_prompt_logits:
            return False
    return bool(chunks)


def burst_length(chunks: list[ScheduledChunk], *, max_steps: int, max_model_len: int) -> int:
    """Decode steps these chunks may run as one burst (1: an ordinary step). The caller checks
    that nothing waits to be admitted."""
    if max_steps <= 1 or not pure_decode(chunks):
        return 1
    steps = max_steps
    for seq in (c.seq for c in chunks):
        # step i samples completion token n + 1 + i and computes position len - 1 + i
        steps = min(steps, seq.params.max_tokens - seq.num_completion_tokens, max_model_len - len(seq) + 1)
    return max(steps, 1)


def decode_follows(chunks: list[ScheduledChunk], *, running: int, waiting: bool, ahead: int,
                   max_steps: int) -> bool:
    """Whether a step of these chunks (every running sequence's, `running` of them) starts greedy
    decode bursts of exactly its sequences, so that the first burst may be launched ahead of the
    step's tokens being read: bursts ahead on, nothing waiting, every chunk samples a greedy token."""
    if not (ahead and max_steps > 1) or waiting or len(chunks) != running:
        return False
    return all(c.samples and c.seq.params.greedy and not c.seq.params.keep_prompt_logits for c in chunks)


def burst_length_after(seqs: list[Sequence], steps: int, *, max_steps: int, max_model_len: int) -> int:
    """Steps (at most max_steps; 0 = none) of a burst that follows a running burst of `steps`
    steps of these sequences, all of which continue: none runs a step it would not run one step at
    a time."""
    for seq in seqs:
        remaining = seq.params.max_tokens - seq.num_completion_tokens - steps
        max_steps = min(max_steps, remaining, max_model_len - (len(seq) + steps) + 1)
    return max(max_steps, 0)


@dataclass(slots=True)
class AheadBurst:
    """A burst launched before the previous one's tokens were read (see the module docstring)."""

    seq_ids: list[int]
    first_positions: list[int]
    steps: int
    tokens: LaunchedBurst  # [steps, B], not synchronised

    def matches(self, seqs: list[Sequence], steps: int) -> bool:
        """Whether it is (the start of) the burst of `steps` steps of these sequences."""
        return (self.steps <= steps and [s.seq_id for s in seqs] == self.seq_ids
                and [len(s) - 1 for s in seqs] == self.first_positions)


@dataclass(slots=True)
class BurstPlan:
    """The host-side inputs of every step of one burst; row b is seqs[b]."""

    seqs: list[Sequence]
    steps: int
    first_ids: list[int]  # [B] input token of step 0 (0 when fed on the device); later steps take
    # the previous argmax
    first_positions: list[int]  # [B] position computed by step 0 (step i: + i)
    pages: list[SeqPages]  # per row, for every step: lengths are page capacities
    has_shift: bool

    @property
    def batch(self) -> int:
        return len(self.seqs)

    @property
    def width(self) -> int:
        """Block-table entries of the widest row."""
        return max(len(p.table) for p in self.pages)

    def stage(self, step: int, tokens: np.ndarray, arrays: np.ndarray) -> None:
        """Write step `step`'s rows into tokens [3, B'] and arrays [4, B', P'] (B' >= B, P' >=
        width; the rest is padding). Input ids of steps after the first are left 0: the caller
        copies them from the previous step's argmax."""
        clear_rows(tokens, arrays)
        for row, (seq, pages) in enumerate(zip(self.seqs, self.pages, strict=True)):
            position = self.first_positions[row] + step
            page, offset = seq.page_of(position)
            stage_row(tokens, arrays, row, token_id=self.first_ids[row] if step == 0 else 0,
                      position=position, slot=int(pages.table[page]) * PAGE_SIZE + offset, pages=pages)


class BurstPlanner:
    def __init__(self) -> None:
        self._cache = SeqPageCache()

    def plan(self, seqs: list[Sequence], steps: int, ahead: int = 0) -> BurstPlan:
        """Inputs of `steps` decode steps of `seqs`, whose pages are reserved for all of them;
        `ahead` > 0 plans the burst after a running one of that many steps (step 0's ids then come
        from the device)."""
        live: dict[int, SeqPages] = {}
        pages: list[SeqPages] = []
        for seq in seqs:
            cached = live[seq.seq_id] = self._cache.update(seq)
            pages.append(_with_reserved_pages(seq, cached))
        self._cache.retain(live)
        first = [len(seq) - 1 + ahead for seq in seqs]
        ids = [0] * len(seqs) if ahead else [s.token_ids[-1] for s in seqs]
        return BurstPlan(seqs=list(seqs), steps=steps, first_ids=ids,
                         first_positions=first, pages=pages, has_shift=any(p.has_shift for p in pages))


def _with_reserved_pages(seq: Sequence, current: SeqPages) -> SeqPages:
    """The sequence's pages with the reserved ones appended; every page of the growing tail counts
    at its full capacity (a row's lens are clipped to its own position anyway)."""
    tail = seq.spans[-1]
    held = len(current.starts)
    assert len(current.table) >= held, "fewer pages than page entries"
    extra = np.arange(held, len(current.table), dtype=np.int32)
    starts = np.concatenate([current.starts, tail.start + PAGE_SIZE * (extra - tail.first_page)])
    lengths = np.concatenate([current.lengths, np.full(len(extra), PAGE_SIZE, dtype=np.int32)])
    lengths[tail.first_page:] = PAGE_SIZE
    shifts = np.concatenate([current.shifts, np.zeros(len(extra), dtype=np.int32)])
    return SeqPages(current.table_source, current.table, starts.astype(np.int32), lengths, shifts,
                    current.has_shift)
