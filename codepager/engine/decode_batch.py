"""Host-side inputs of a padded "one query per row" step, built without per-page Python work.

Every computed token of the step's chunks becomes a row that the paged decode kernel serves: the
row's page lens are its sequence's pages clipped to the keys at positions <= the token's own (all
of the step's K/V is stored before attention, so this is exact causal attention). For a decode
step these are the numbers of ModelRunner.prepare; a short extend chunk (a few typed tokens after a
prefix-cache hit) becomes one row per token. Written into (pinned) staging buffers shaped as
CUDA-graph inputs: tokens [3, B] int64 (input ids, positions, slot mapping) and pages [4, B, P]
int32 (block tables, page starts, page lens, page shifts). Rows past the last token and entries
past a sequence's pages are padding: slot -1, page lens 0.

A sequence's page layout only changes at its tail while it decodes, and its block table only
grows, so both are kept per sequence as arrays and updated incrementally; a step costs O(batch)
Python plus numpy copies, not O(pages).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from codepager.engine.scheduler import ScheduledChunk
from codepager.engine.sequence import PAGE_SIZE, Sequence


@dataclass(slots=True)
class _SeqPages:
    table_source: list[int]  # the seq.block_table list mirrored by `table`
    table: np.ndarray  # [pages] int32
    starts: np.ndarray  # [pages] int32
    lengths: np.ndarray  # [pages] int32, tokens held (before clipping to a chunk's end)
    shifts: np.ndarray  # [pages] int32
    has_shift: bool


def _page_arrays(seq: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    entries = seq.page_entries()
    starts = np.fromiter((e.start for e in entries), dtype=np.int32, count=len(entries))
    lengths = np.fromiter((e.length for e in entries), dtype=np.int32, count=len(entries))
    shifts = np.fromiter((e.shift for e in entries), dtype=np.int32, count=len(entries))
    return starts, lengths, shifts


class DecodeBatchBuilder:
    def __init__(self, *, max_batch_size: int, max_pages: int, pin_memory: bool | None = None) -> None:
        pin = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.max_batch_size = max_batch_size
        self.max_pages = max_pages
        self._tokens = torch.zeros(3 * max_batch_size, dtype=torch.int64, pin_memory=pin)
        self._pages = torch.zeros(4 * max_batch_size * max_pages, dtype=torch.int32, pin_memory=pin)
        self._tokens_np = self._tokens.numpy()
        self._pages_np = self._pages.numpy()
        self._seqs: dict[int, _SeqPages] = {}

    def staged(self, batch: int, pages: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The filled staging tensors: tokens [3 * batch] and pages [4 * batch * pages] (flat)."""
        return self._tokens[: 3 * batch], self._pages[: 4 * batch * pages]

    def fill(self, chunks: list[ScheduledChunk], batch: int, pages: int) -> bool:
        """Stage one row per computed token of `chunks`, padded to (batch, pages); True when any page
        is shifted."""
        assert batch <= self.max_batch_size and pages <= self.max_pages
        tokens = self._tokens_np[: 3 * batch].reshape(3, batch)  # ids, positions, slots
        arrays = self._pages_np[: 4 * batch * pages].reshape(4, batch, pages)  # tables..shifts
        tokens[:2] = 0
        tokens[2] = -1
        arrays.fill(0)
        has_shift = False
        live: dict[int, _SeqPages] = {}
        row = 0
        for chunk in chunks:
            seq = chunk.seq
            cached = live[seq.seq_id] = self._update(seq)
            count = len(cached.table)
            assert count == len(cached.starts) <= pages, "block table and page entries disagree"
            has_shift = has_shift or cached.has_shift
            for position in chunk.positions:
                assert row < batch, "more computed tokens than rows"
                tokens[0, row] = seq.token_ids[position]
                tokens[1, row] = position
                if position >= seq.num_cached_tokens:
                    page, slot = seq.page_of(position)
                    tokens[2, row] = seq.block_table[page] * PAGE_SIZE + slot
                arrays[0, row, :count] = cached.table
                arrays[1, row, :count] = cached.starts
                visible = np.maximum(position + 1 - cached.starts, 0)  # keys at positions <= own
                arrays[2, row, :count] = np.minimum(visible, cached.lengths)
                if cached.has_shift:
                    arrays[3, row, :count] = cached.shifts
                row += 1
        self._seqs = live
        return has_shift

    def _update(self, seq: Sequence) -> _SeqPages:
        cached = self._seqs.get(seq.seq_id)
        table = seq.block_table
        if cached is None or cached.table_source is not table or len(table) < len(cached.table):
            starts, lengths, shifts = _page_arrays(seq)
            return _SeqPages(table, np.asarray(table, dtype=np.int32), starts, lengths, shifts,
                             bool(shifts.any()))
        if len(table) > len(cached.table):
            new = np.asarray(table[len(cached.table):], dtype=np.int32)
            cached.table = np.concatenate([cached.table, new])
        num_pages = seq.num_pages()
        if num_pages != len(cached.starts):
            cached.starts, cached.lengths, cached.shifts = _page_arrays(seq)
            cached.has_shift = bool(cached.shifts.any())
        else:  # only the last page can have grown
            cached.lengths[-1] = seq.page_entry(num_pages - 1).length
        return cached
