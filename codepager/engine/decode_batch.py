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
class SeqPages:
    """A sequence's block table and page layout as arrays (one entry per logical page)."""

    table_source: list[int]  # the seq.block_table list mirrored by `table`
    table: np.ndarray  # [pages] int32
    starts: np.ndarray  # [pages] int32
    lengths: np.ndarray  # [pages] int32, tokens held (before clipping to a row's position)
    shifts: np.ndarray  # [pages] int32
    has_shift: bool


def _page_arrays(seq: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    entries = seq.page_entries()
    starts = np.fromiter((e.start for e in entries), dtype=np.int32, count=len(entries))
    lengths = np.fromiter((e.length for e in entries), dtype=np.int32, count=len(entries))
    shifts = np.fromiter((e.shift for e in entries), dtype=np.int32, count=len(entries))
    return starts, lengths, shifts


class SeqPageCache:
    """SeqPages of the sequences of the last step, updated incrementally. The table may run ahead
    of the page layout (pages reserved for a decode burst)."""

    def __init__(self) -> None:
        self._seqs: dict[int, SeqPages] = {}

    def retain(self, live: dict[int, SeqPages]) -> None:
        self._seqs = live

    def update(self, seq: Sequence) -> SeqPages:
        cached = self._seqs.get(seq.seq_id)
        table = seq.block_table
        if cached is None or cached.table_source is not table or len(table) < len(cached.table):
            starts, lengths, shifts = _page_arrays(seq)
            return SeqPages(table, np.asarray(table, dtype=np.int32), starts, lengths, shifts,
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


def stage_row(
    tokens: np.ndarray, arrays: np.ndarray, row: int, *, token_id: int, position: int, slot: int,
    pages: SeqPages,
) -> None:
    """Write one query row: tokens [3, B] (id, position, slot) and arrays [4, B, P] (table, starts,
    lens clipped to the keys at positions <= `position`, shifts)."""
    count = len(pages.table)
    tokens[0, row] = token_id
    tokens[1, row] = position
    tokens[2, row] = slot
    arrays[0, row, :count] = pages.table
    arrays[1, row, :count] = pages.starts
    visible = np.maximum(position + 1 - pages.starts, 0)  # keys at positions <= own
    arrays[2, row, :count] = np.minimum(visible, pages.lengths)
    if pages.has_shift:
        arrays[3, row, :count] = pages.shifts


def clear_rows(tokens: np.ndarray, arrays: np.ndarray) -> None:
    """Padding everywhere: id and position 0, slot -1 (store nothing), no pages."""
    tokens[:2] = 0
    tokens[2] = -1
    arrays.fill(0)


class DecodeBatchBuilder:
    def __init__(self, *, max_batch_size: int, max_pages: int, pin_memory: bool | None = None) -> None:
        pin = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.max_batch_size = max_batch_size
        self.max_pages = max_pages
        self._tokens = torch.zeros(3 * max_batch_size, dtype=torch.int64, pin_memory=pin)
        self._pages = torch.zeros(4 * max_batch_size * max_pages, dtype=torch.int32, pin_memory=pin)
        self._tokens_np = self._tokens.numpy()
        self._pages_np = self._pages.numpy()
        self._cache = SeqPageCache()

    def staged(self, batch: int, pages: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The filled staging tensors: tokens [3 * batch] and pages [4 * batch * pages] (flat)."""
        return self._tokens[: 3 * batch], self._pages[: 4 * batch * pages]

    def fill(self, chunks: list[ScheduledChunk], batch: int, pages: int) -> bool:
        """Stage one row per computed token of `chunks`, padded to (batch, pages); True when any page
        is shifted."""
        assert batch <= self.max_batch_size and pages <= self.max_pages
        tokens = self._tokens_np[: 3 * batch].reshape(3, batch)  # ids, positions, slots
        arrays = self._pages_np[: 4 * batch * pages].reshape(4, batch, pages)  # tables..shifts
        clear_rows(tokens, arrays)
        has_shift = False
        live: dict[int, SeqPages] = {}
        row = 0
        for chunk in chunks:
            seq = chunk.seq
            cached = live[seq.seq_id] = self._cache.update(seq)
            assert len(cached.table) == len(cached.starts) <= pages, "block table and page entries disagree"
            has_shift = has_shift or cached.has_shift
            for position in chunk.positions:
                assert row < batch, "more computed tokens than rows"
                slot = -1
                if position >= seq.num_cached_tokens:
                    page, offset = seq.page_of(position)
                    slot = seq.block_table[page] * PAGE_SIZE + offset
                stage_row(tokens, arrays, row, token_id=seq.token_ids[position], position=position,
                          slot=slot, pages=cached)
                row += 1
        self._cache.retain(live)
        return has_shift
