"""Paged decode: one query token per sequence attends to all valid keys of its paged context.

Layouts:
    q:      [num_seqs, num_q_heads, head_dim]   RoPE applied at the token's position
    k_cache etc.: see codepager.kernels.paged_layout (the token's own K/V already stored)
    out:    [num_seqs, num_q_heads, head_dim]

Kernel (SGLang's shape): stage 1 splits each sequence's block table into `num_splits` contiguous
ranges; one program takes (sequence, kv head, split) with the whole GQA query group as the rows of
its tiles (padded to 16 rows for tl.dot) and writes a partial output normalised by its own softmax
sum plus that sum's log2-sum-exp. A split whose table range is short enough reads it into registers
before its loop: no load inside the loop then feeds the keys' addresses, and Triton's pipeliner
keeps two tiles of keys and values in flight (with the block table read tile by tile it keeps one,
issued after the tile before is done). Stage 2 (codepager.kernels.split_merge) merges the splits
per (sequence, query head). Launch configurations and split counts: paged_decode_config. Chained by
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

from codepager.kernels.paged_decode_config import DECODE_CONFIGS, decode_num_splits
from codepager.kernels.paged_extend import paged_extend_ref
from codepager.kernels.paged_layout import PAGE_SIZE, check_paged_inputs
from codepager.kernels.paged_tiles import (
    accumulate_values,
    device_sm_count,
    dot_precision,
    even_splits,
    fold_slots,
    fold_tile,
    load_keys,
    load_query_rows,
    scores_of,
    tile_slots,
)
from codepager.kernels.pdl import pdl_launch_options, pdl_release, pdl_supported, pdl_wait_then_release
from codepager.kernels.split_merge import merge_splits, split_result
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
def _fold_split_tile(
    q, q_lo, q_hi, m_i, l_i, acc, k_ptr, v_ptr, split_pages, split_lens, split_shifts, inv_freq_ptr,
    tile_first, split_len, kv_head, scale_log2,
    stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot, stride_v_head,
    HEAD_DIM: tl.constexpr, PAGE_SIZE: tl.constexpr, PAGES_PER_TILE: tl.constexpr,
    SPLIT_ENTRIES: tl.constexpr, HAS_SHIFT: tl.constexpr, DOT_PRECISION: tl.constexpr,
):
    """fold_tile for the tile starting tile_first entries into a split of split_len entries, whose
    table entries are in registers already (split_pages / split_lens / split_shifts
    [SPLIT_ENTRIES]): no load in the loop feeds the keys' addresses, so the pipeliner can
    multi-buffer the keys and values."""
    n = tl.arange(0, PAGES_PER_TILE * PAGE_SIZE)
    local = tile_first + n // PAGE_SIZE
    in_split = local < split_len
    local = tl.minimum(local, SPLIT_ENTRIES - 1)
    page = tl.gather(split_pages, local, axis=0).to(tl.int64)
    slot = n % PAGE_SIZE
    valid = in_split & (slot < tl.gather(split_lens, local, axis=0))
    page_shift = tl.zeros([PAGES_PER_TILE], dtype=tl.int32)
    if HAS_SHIFT:
        page_local = tl.minimum(tile_first + tl.arange(0, PAGES_PER_TILE), SPLIT_ENTRIES - 1)
        page_shift = tl.gather(split_shifts, page_local, axis=0)  # past the split: keys are invalid
    return fold_slots(q, q_lo, q_hi, 0, m_i, l_i, acc, k_ptr, v_ptr, local, page, slot, valid,
                      page_shift, split_pages, inv_freq_ptr, kv_head, scale_log2,
                      stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot,
                      stride_v_head, HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, HAS_SHIFT, DOT_PRECISION, False)


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
    DOT_PRECISION: tl.constexpr, PDL: tl.constexpr, PREFETCH: tl.constexpr, RELEASE_MERGE: tl.constexpr,
    SPLIT_ENTRIES: tl.constexpr,
):
    pdl_release(RELEASE_MERGE)  # launched plainly, before a PDL-launched merge
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
    if SPLIT_ENTRIES > 0:  # the split's whole block-table range in registers first
        e = tl.arange(0, SPLIT_ENTRIES)
        in_split = first + e < end
        split_pages = tl.load(table_row + first + e, mask=in_split, other=0)
        split_lens = tl.load(lens_row + first + e, mask=in_split, other=0)
        split_shifts = split_lens
        if HAS_SHIFT:
            split_shifts = tl.load(shifts_row + first + e, mask=in_split, other=0)
        for tile_first in range(loop_first - first, end - first, PAGES_PER_TILE):
            m_i, l_i, acc = _fold_split_tile(
                q, q_lo, q_hi, m_i, l_i, acc, k_ptr, v_ptr, split_pages, split_lens, split_shifts,
                inv_freq_ptr, tile_first, end - first, kv_head, scale_log2,
                stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot, stride_v_head,
                HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, SPLIT_ENTRIES, HAS_SHIFT, DOT_PRECISION)
    else:
        for entry0 in range(loop_first, end, PAGES_PER_TILE):  # a decode query sees every valid key
            m_i, l_i, acc = fold_tile(
                q, q_lo, q_hi, 0, m_i, l_i, acc, k_ptr, v_ptr, table_row, lens_row, table_row,
                shifts_row, inv_freq_ptr, entry0, end, kv_head, scale_log2,
                stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot, stride_v_head,
                HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, HAS_SHIFT, DOT_PRECISION, False)

    out, lse = split_result(m_i, l_i, acc)
    part_rows = (seq * num_q_heads + heads) * num_splits + split  # [S, Hq, splits]
    tl.store(part_lse_ptr + part_rows, lse, mask=row_ok)
    tl.store(part_out_ptr + part_rows[:, None] * HEAD_DIM + d[None, :], out, mask=row_ok[:, None])


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
    merge_launch: dict | None = None,
) -> torch.Tensor:
    """Triton paged decode; same contract as paged_decode_ref (page_starts is unused: a decode
    query sees every valid key). num_splits overrides the heuristic, config (keys as in
    DECODE_CONFIGS) the launch configuration and merge_launch the merge's (split_merge.merge_splits;
    benchmarks); pdl launches both kernels as programmatic dependents (codepager.kernels.pdl);
    prefetch (default: pdl) loads each split's first tile apart from the loop, before the PDL wait
    (tests run it without PDL)."""
    require_triton()
    num_seqs, num_q_heads, head_dim = q.shape
    num_kv_heads = k_cache.shape[2]
    check_paged_inputs(q=q, k_cache=k_cache, v_cache=v_cache, block_tables=block_tables,
                       page_starts=page_starts, page_lens=page_lens, page_shifts=page_shifts,
                       rope_inv_freq=rope_inv_freq, num_seqs=num_seqs)
    has_shift = page_shifts is not None
    num_entries = block_tables.shape[1]
    group = num_q_heads // num_kv_heads
    base = DECODE_CONFIGS[("cuda_chained" if pdl else "cuda") if q.is_cuda else "interpreter"]
    assert config is None or set(config) <= set(base), f"decode config keys are {sorted(base)}"
    config = {**base, **(config or {})}
    if num_splits is None:
        num_splits = decode_num_splits(num_seqs=num_seqs, num_kv_heads=num_kv_heads, num_entries=num_entries,
                                       sm_count=device_sm_count(q.device), chained=pdl)
    entries_per_split, num_splits = even_splits(num_entries, num_splits, config["pages_per_tile"])
    merge_pdl = pdl or (config["merge_pdl"] and pdl_supported(q.device))

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
        RELEASE_MERGE=merge_pdl and not pdl,
        SPLIT_ENTRIES=(triton.next_power_of_2(entries_per_split)
                       if entries_per_split <= config["table_ahead"] else 0),
        num_warps=config["num_warps"], num_stages=config["num_stages"], **pdl_launch_options(pdl),
    )
    merge_splits(part_out=part_out, part_lse=part_lse, out=out, pdl=merge_pdl, launch=merge_launch)
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
