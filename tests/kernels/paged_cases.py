"""Random paged-KV layouts for the kernel tests: sequences made of segments, each segment starting
on a fresh page (so partly filled pages sit in the middle of a table), pages scattered over a pool
whose unused pages hold random garbage."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from codepager.kernels.paged_layout import PAGE_SIZE

# the interpreter tests run the real kernels where there is a GPU (the interpreter is off there)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class PagedCase:
    k_cache: torch.Tensor
    v_cache: torch.Tensor
    block_tables: torch.Tensor
    page_starts: torch.Tensor
    page_lens: torch.Tensor
    page_shifts: torch.Tensor | None
    rope_inv_freq: torch.Tensor
    seq_lens: list[int]  # logical length (last position + 1) of each sequence

    def layout(self) -> dict:
        return dict(k_cache=self.k_cache, v_cache=self.v_cache, block_tables=self.block_tables,
                    page_starts=self.page_starts, page_lens=self.page_lens,
                    page_shifts=self.page_shifts, rope_inv_freq=self.rope_inv_freq)


def make_case(
    *,
    segments: list[list[tuple[int, int]]],
    num_kv_heads: int,
    head_dim: int,
    dtype: torch.dtype = torch.float32,
    device: str = DEVICE,
    spare_pages: int = 3,
    extra_entries: int = 1,
    generator: torch.Generator,
) -> PagedCase:
    """segments[seq] = [(length, shift), ...] placed one after another in logical positions; a
    segment with shift s holds keys rotated at (position - s). All shifts 0 -> page_shifts None."""
    pages_per_seq = [sum(-(-n // PAGE_SIZE) for n, _ in segs) for segs in segments]
    num_pages = sum(pages_per_seq) + spare_pages
    max_entries = max(pages_per_seq) + extra_entries
    order = torch.randperm(num_pages, generator=generator)
    shape = (len(segments), max_entries)
    tables = torch.full(shape, -1, dtype=torch.int32)
    starts = torch.zeros(shape, dtype=torch.int32)
    lens = torch.zeros(shape, dtype=torch.int32)
    shifts = torch.zeros(shape, dtype=torch.int32)
    next_page = 0
    seq_lens = []
    for seq, segs in enumerate(segments):
        entry, pos = 0, 0
        for length, shift in segs:
            for first in range(0, length, PAGE_SIZE):
                tables[seq, entry] = int(order[next_page])
                starts[seq, entry] = pos + first
                lens[seq, entry] = min(PAGE_SIZE, length - first)
                shifts[seq, entry] = shift
                entry += 1
                next_page += 1
            pos += length
        seq_lens.append(pos)
    any_shift = bool((shifts != 0).any())
    kv_shape = (num_pages, PAGE_SIZE, num_kv_heads, head_dim)
    k_cache = torch.randn(kv_shape, generator=generator).to(dtype)
    v_cache = torch.randn(kv_shape, generator=generator).to(dtype)
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    return PagedCase(
        k_cache=k_cache.to(device), v_cache=v_cache.to(device), block_tables=tables.to(device),
        page_starts=starts.to(device), page_lens=lens.to(device),
        page_shifts=shifts.to(device) if any_shift else None, rope_inv_freq=inv_freq.to(device),
        seq_lens=seq_lens,
    )


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    diff = (out.double() - ref.double()).norm()
    return float(diff / ref.double().norm())
