"""Paged decode: one query token per sequence attends to all valid keys of its paged context.

Layouts:
    q:      [num_seqs, num_q_heads, head_dim]   RoPE applied at the token's position
    k_cache etc.: see codepager.kernels.paged_layout (the token's own K/V already stored)
    out:    [num_seqs, num_q_heads, head_dim]

Kernel (SGLang's shape): stage 1 splits each sequence's block table into `num_splits` contiguous
ranges; one program takes (sequence, kv head, split) with the whole GQA query group as the rows of
its tiles (padded to 16 rows for tl.dot) and writes a partial output normalised by its own softmax
sum plus that sum's log2-sum-exp. Stage 2 merges the splits per (sequence, query head). Chained by
PDL (pdl=True), a program loads its first tile of keys and values before waiting for the kernel
before it (codepager.kernels.pdl), unless the tile reaches into the row's last two valid pages:
only there can keys stored by this step's kernels lie when those are at consecutive positions
ending at the row's own, at most 17 of them (the engine chains steps of at most 4 rows whose
chunks compute consecutive positions: codepager.engine.cuda_graphs.chainable_rows).

Limits: head_dim a power of two >= 16 (>= 32 with page_shifts); num_q_heads a multiple of
num_kv_heads (a group of up to 64 query heads is one program's rows, padded to >= 16; larger
groups take several programs); every sequence has at least one valid key. The launcher never
reads tensor data on the host, so it can be captured in a CUDA graph (the workspace size depends
only on shapes).
"""

import torch

from codepager.kernels.paged_extend import paged_extend_ref
from codepager.kernels.paged_layout import PAGE_SIZE, check_paged_inputs
from codepager.kernels.paged_tiles import (
    accumulate_values,
    device_sm_count,
    dot_precision,
    even_splits,
    fold_tile,
    load_keys,
    load_query_rows,
    merge_splits,
    scores_of,
    tile_slots,
)
from codepager.kernels.pdl import pdl_launch_options, pdl_wait_then_release
from codepager.kernels.triton_import import require_triton, tl, triton


@triton.jit
def _first_tile_around_wait(
    k_ptr, v_ptr, table_row, lens_row, shifts_row, first, end, num_entries, kv_head,
    stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot, stride_v_head,
    HEAD_DIM: tl.constexpr, PAGE_SIZE: tl.constexpr, PAGES_PER_TILE: tl.constexpr,
    HAS_SHIFT: tl.constexpr, PDL: tl.constexpr,
):
    """The split's first tile as (keys a, keys b (load_keys), values [BLOCK_N, D], page shifts,
    valid [BLOCK_N]), with the PDL wait inside: keys the kernel before may have just stored (the
    step's new tokens, in a row's last two valid pages) load after it, all others before it."""
    entry, page, slot, valid = tile_slots(table_row, lens_row, first, end, PAGE_SIZE, PAGES_PER_TILE)
    # a valid entry two past the tile: the row's last two valid pages lie beyond the tile
    two_past = first + PAGES_PER_TILE + 1 + entry * 0  # (BLOCK_N,), so the mask stays a tensor
    early = valid & (tl.load(lens_row + two_past, mask=two_past < num_entries, other=0) > 0)
    key_ptrs = k_ptr + page * stride_k_page + slot * stride_k_slot + kv_head * stride_k_head
    value_ptrs = v_ptr + page * stride_v_page + slot * stride_v_slot + kv_head * stride_v_head
    d = tl.arange(0, HEAD_DIM)
    k_a, k_b = load_keys(key_ptrs, early, HEAD_DIM, HAS_SHIFT)
    v = tl.load(value_ptrs[:, None] + d[None, :], mask=early[:, None], other=0.0)
    page_entry = first + tl.arange(0, PAGES_PER_TILE)
    page_shift = tl.zeros([PAGES_PER_TILE], dtype=tl.int32)
    if HAS_SHIFT:
        page_shift = tl.load(shifts_row + page_entry, mask=page_entry < end, other=0)
    pdl_wait_then_release(PDL)
    late = valid & ~early
    late_a, late_b = load_keys(key_ptrs, late, HEAD_DIM, HAS_SHIFT)
    k_a = tl.where(early[:, None], k_a, late_a)
    k_b = tl.where(early[:, None], k_b, late_b)
    v = tl.where(early[:, None], v, tl.load(value_ptrs[:, None] + d[None, :], mask=late[:, None], other=0.0))
    return k_a, k_b, v, page_shift, valid


@triton.jit
def _decode_split_kernel(
    q_ptr, k_ptr, v_ptr, table_ptr, lens_ptr, shifts_ptr, inv_freq_ptr, part_out_ptr, part_lse_ptr,
    scale_log2, num_entries, entries_per_split, num_splits, num_q_heads,
    stride_q_seq, stride_q_head,
    stride_k_page, stride_k_slot, stride_k_head,
    stride_v_page, stride_v_slot, stride_v_head,
    stride_table_seq,
    GROUP: tl.constexpr, BLOCK_H: tl.constexpr, ROW_BLOCKS: tl.constexpr, HEAD_DIM: tl.constexpr,
    PAGE_SIZE: tl.constexpr, PAGES_PER_TILE: tl.constexpr, HAS_SHIFT: tl.constexpr,
    DOT_PRECISION: tl.constexpr, PDL: tl.constexpr, PREFETCH: tl.constexpr,
):
    seq = tl.program_id(0)
    kv_head = tl.program_id(1) // ROW_BLOCKS
    row_block = tl.program_id(1) % ROW_BLOCKS
    split = tl.program_id(2)
    first = split * entries_per_split
    end = tl.minimum(first + entries_per_split, num_entries)
    table_row = table_ptr + seq * stride_table_seq
    lens_row = lens_ptr + seq * stride_table_seq
    shifts_row = shifts_ptr + seq * stride_table_seq
    if PREFETCH:  # chained: the first tile streams in while the kernel before finishes
        k_a, k_b, v, page_shift, valid = _first_tile_around_wait(
            k_ptr, v_ptr, table_row, lens_row, shifts_row, first, end, num_entries, kv_head,
            stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot, stride_v_head,
            HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, HAS_SHIFT, PDL)
        loop_first = first + PAGES_PER_TILE
    else:  # the loop alone: peeling its first tile costs registers and pipelining (H100)
        pdl_wait_then_release(PDL)
        loop_first = first

    rows = row_block * BLOCK_H + tl.arange(0, BLOCK_H)
    row_ok = rows < GROUP
    heads = kv_head * GROUP + rows
    d = tl.arange(0, HEAD_DIM)
    q_rows = q_ptr + seq * stride_q_seq + heads * stride_q_head
    q, q_lo, q_hi = load_query_rows(q_rows, row_ok, BLOCK_H, HEAD_DIM, HAS_SHIFT)

    m_i = tl.full([BLOCK_H], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_H], dtype=tl.float32)
    acc = tl.zeros([BLOCK_H, HEAD_DIM], dtype=tl.float32)
    if PREFETCH:
        scores = scores_of(q, q_lo, q_hi, k_a, k_b, page_shift, inv_freq_ptr,
                           HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, HAS_SHIFT, DOT_PRECISION)
        scores = tl.where(valid[None, :], scores * scale_log2, float("-inf"))
        m_i, l_i, acc = accumulate_values(scores, m_i, l_i, acc, v, DOT_PRECISION)
    for entry0 in range(loop_first, end, PAGES_PER_TILE):  # a decode query sees every valid key
        m_i, l_i, acc = fold_tile(
            q, q_lo, q_hi, 0, m_i, l_i, acc, k_ptr, v_ptr, table_row, lens_row, table_row,
            shifts_row, inv_freq_ptr, entry0, end, kv_head, scale_log2,
            stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot, stride_v_head,
            HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, HAS_SHIFT, DOT_PRECISION, False)

    has_keys = l_i > 0
    out = acc / tl.where(has_keys, l_i, 1.0)[:, None]
    lse = tl.where(has_keys, m_i + tl.log2(tl.where(has_keys, l_i, 1.0)), float("-inf"))
    part_rows = (seq * num_q_heads + heads) * num_splits + split  # [S, Hq, splits]
    tl.store(part_lse_ptr + part_rows, lse, mask=row_ok)
    tl.store(part_out_ptr + part_rows[:, None] * HEAD_DIM + d[None, :], out, mask=row_ok[:, None])


# Tile configurations as data: (pages per tile, num_warps, num_stages), by platform.
DECODE_CONFIGS = {
    "cuda": {"pages_per_tile": 4, "num_warps": 4, "num_stages": 2},
    "interpreter": {"pages_per_tile": 2, "num_warps": 4, "num_stages": 1},
}
MIN_ENTRIES_PER_SPLIT = 4  # 64 tokens: below this the merge costs more than the parallelism gains
MAX_SPLITS = 128  # more partials cost the merge more than the wider fan-out gains (H100, batch 1)
PROGRAMS_PER_SM = 4  # resident at once with the CUDA config (register-limited, 121 per thread)


def decode_num_splits(*, num_seqs: int, num_kv_heads: int, num_entries: int, sm_count: int) -> int:
    """As many splits as keep all (sequence, kv head, split) programs in one wave of
    PROGRAMS_PER_SM per SM (a second, mostly empty wave would double the time), never splits
    shorter than MIN_ENTRIES_PER_SPLIT pages nor more than MAX_SPLITS. Depends on shapes only, so
    a captured graph stays valid."""
    wanted = (PROGRAMS_PER_SM * sm_count) // (num_seqs * num_kv_heads)
    return max(1, min(wanted, num_entries // MIN_ENTRIES_PER_SPLIT, MAX_SPLITS))


def paged_decode(
    *,
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    page_starts: torch.Tensor,
    page_lens: torch.Tensor,
    page_shifts: torch.Tensor | None,
    rope_inv_freq: torch.Tensor | None,
    scale: float,
    num_splits: int | None = None,
    config: dict | None = None,
    pdl: bool = False,
    prefetch: bool | None = None,
) -> torch.Tensor:
    """Triton paged decode; same contract as paged_decode_ref (page_starts is unused: a decode
    query sees every valid key). num_splits overrides the heuristic and config (keys as in
    DECODE_CONFIGS) the tile configuration (benchmarks); pdl launches both kernels as programmatic
    dependents (codepager.kernels.pdl); prefetch (default: pdl) loads each split's first tile apart
    from the loop, before the PDL wait (tests run it without PDL)."""
    require_triton()
    num_seqs, num_q_heads, head_dim = q.shape
    num_kv_heads = k_cache.shape[2]
    check_paged_inputs(q=q, k_cache=k_cache, v_cache=v_cache, block_tables=block_tables,
                       page_starts=page_starts, page_lens=page_lens, page_shifts=page_shifts,
                       rope_inv_freq=rope_inv_freq, num_seqs=num_seqs)
    has_shift = page_shifts is not None
    num_entries = block_tables.shape[1]
    group = num_q_heads // num_kv_heads
    base = DECODE_CONFIGS["cuda" if q.is_cuda else "interpreter"]
    assert config is None or set(config) <= set(base), f"decode config keys are {sorted(base)}"
    config = {**base, **(config or {})}
    if num_splits is None:
        num_splits = decode_num_splits(num_seqs=num_seqs, num_kv_heads=num_kv_heads,
                                       num_entries=num_entries, sm_count=device_sm_count(q.device))
    entries_per_split, num_splits = even_splits(num_entries, num_splits, config["pages_per_tile"])

    part_out = torch.empty(num_seqs, num_q_heads, num_splits, head_dim, dtype=torch.float32,
                           device=q.device)
    part_lse = torch.empty(num_seqs, num_q_heads, num_splits, dtype=torch.float32, device=q.device)
    out = torch.empty_like(q)
    block_h = max(16, min(triton.next_power_of_2(group), 64))
    row_blocks = triton.cdiv(group, block_h)
    grid = (num_seqs, num_kv_heads * row_blocks, num_splits)
    _decode_split_kernel[grid](
        q_ptr=q, k_ptr=k_cache, v_ptr=v_cache, table_ptr=block_tables, lens_ptr=page_lens,
        shifts_ptr=page_shifts if has_shift else page_lens,
        inv_freq_ptr=rope_inv_freq if has_shift else q,
        part_out_ptr=part_out, part_lse_ptr=part_lse,
        scale_log2=scale * 1.4426950408889634, num_entries=num_entries,
        entries_per_split=entries_per_split, num_splits=num_splits, num_q_heads=num_q_heads,
        stride_q_seq=q.stride(0), stride_q_head=q.stride(1),
        stride_k_page=k_cache.stride(0), stride_k_slot=k_cache.stride(1), stride_k_head=k_cache.stride(2),
        stride_v_page=v_cache.stride(0), stride_v_slot=v_cache.stride(1), stride_v_head=v_cache.stride(2),
        stride_table_seq=block_tables.stride(0),
        GROUP=group, BLOCK_H=block_h, ROW_BLOCKS=row_blocks, HEAD_DIM=head_dim, PAGE_SIZE=PAGE_SIZE,
        PAGES_PER_TILE=config["pages_per_tile"], HAS_SHIFT=has_shift,
        DOT_PRECISION=dot_precision(q.dtype), PDL=pdl, PREFETCH=pdl if prefetch is None else prefetch,
        num_warps=config["num_warps"], num_stages=config["num_stages"], **pdl_launch_options(pdl),
    )
    merge_splits(part_out=part_out, part_lse=part_lse, out=out, pdl=pdl)
    return out


def paged_decode_ref(
    *,
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    page_starts: torch.Tensor,
    page_lens: torch.Tensor,
    page_shifts: torch.Tensor | None,
    rope_inv_freq: torch.Tensor | None,
    scale: float,
    pdl: bool = False,
) -> torch.Tensor:
    del pdl  # a launch detail
    num_seqs = q.shape[0]
    cu = torch.arange(num_seqs + 1, dtype=torch.int32, device=q.device)
    # the decode query sees every stored key: give it a position past all of them
    far = torch.full((num_seqs,), torch.iinfo(torch.int32).max, dtype=torch.int32, device=q.device)
    return paged_extend_ref(
        q=q, k_cache=k_cache, v_cache=v_cache, block_tables=block_tables, page_starts=page_starts,
        page_lens=page_lens, page_shifts=page_shifts, cu_seqlens_q=cu, q_positions=far,
        rope_inv_freq=rope_inv_freq, scale=scale,
    )
