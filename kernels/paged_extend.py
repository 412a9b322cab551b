"""Paged prefill / extend: a chunk of new query tokens per sequence attends to the sequence's paged
context, causally by logical position (the new tokens' own K/V are stored into pages first).

Layouts:
    q:             [total_q, num_q_heads, head_dim]   queries of all sequences packed, RoPE applied
    cu_seqlens_q:  [num_seqs + 1] int32               query offsets of each sequence in q
    q_positions:   [total_q] int32                    logical position of each query token
    k_cache etc.:  see codepager.kernels.paged_layout
    out:           [total_q, num_q_heads, head_dim]

A query at position P attends to every valid key whose logical position is <= P. num_q_heads must
be a multiple of num_kv_heads (GQA: query head h reads kv head h // (num_q_heads // num_kv_heads)).

Kernel: one program per (query head, block of BLOCK_M query tokens, sequence, key split) streams
its share of the sequence's block table in tiles of PAGES_PER_TILE pages with an online softmax
(Triton tutorial 06). As there, tiles whose keys all precede the block's first query skip the
causal mask and tiles wholly after its last query are not visited; key positions are per page, so
the program first counts, over its table range, the entries before each bound. Heads vary fastest
in the grid so that the programs reading one kv head's pages run together. When those programs
would not fill the GPU (a short chunk over a long prefix), the keys are split as in decode and the
partial results merged by log-sum-exp. Shifted pages are folded run by run of equal shift with the
query rotated once per run (codepager.kernels.shift_runs), so their tiles stream like unshifted ones.

Limits: head_dim a power of two >= 16 (>= 32 with page_shifts); every query has at least one
allowed key (its own); the positions of valid entries increase along each block table (entries
with page_lens 0 may sit anywhere), as the engine lays sequences out. Unless the caller passes
max_seqlen_q, the launcher reads cu_seqlens_q on the host once for the grid size.
"""

import torch

from codepager.kernels.paged_layout import PAGE_SIZE, check_paged_inputs, gather_sequence_kv
from codepager.kernels.paged_tiles import (
    device_sm_count,
    dot_precision,
    even_splits,
    fold_tiles,
    load_query_rows,
)
from codepager.kernels.shift_runs import fold_shift_runs
from codepager.kernels.split_merge import merge_splits, split_result
from codepager.kernels.triton_import import require_triton, tl, triton


@triton.jit
def _causal_bounds(starts_row, lens_row, first, end, q_min, q_max, SEARCH_BLOCK: tl.constexpr):
    """(full_end, causal_end) in table entries [first, end): entries before full_end hold only keys
    at positions <= q_min, entries from causal_end on no key at a position <= q_max (exact because
    valid entries' positions increase along the table; see the docstring)."""
    full_end = end
    causal_end = first
    for block0 in range(first, end, SEARCH_BLOCK):
        entries = block0 + tl.arange(0, SEARCH_BLOCK)
        in_range = entries < end
        start = tl.load(starts_row + entries, mask=in_range, other=0)
        length = tl.load(lens_row + entries, mask=in_range, other=0)
        used = in_range & (length > 0)
        full_end = tl.minimum(full_end, tl.min(tl.where(used & (start + length - 1 > q_min), entries, end)))
        causal_end = tl.maximum(causal_end, tl.max(tl.where(used & (start <= q_max), entries + 1, first)))
    return full_end, causal_end


@triton.jit
def _extend_kernel(
    q_ptr, k_ptr, v_ptr, out_ptr, part_out_ptr, part_lse_ptr, cu_seqlens_ptr, q_pos_ptr,
    table_ptr, starts_ptr, lens_ptr, shifts_ptr, inv_freq_ptr,
    scale_log2, num_entries, entries_per_split, num_splits, num_q_heads,
    stride_q_tok, stride_q_head, stride_o_tok, stride_o_head,
    stride_k_page, stride_k_slot, stride_k_head,
    stride_v_page, stride_v_slot, stride_v_head,
    stride_table_seq,
    GROUP: tl.constexpr, BLOCK_M: tl.constexpr, HEAD_DIM: tl.constexpr,
    PAGE_SIZE: tl.constexpr, PAGES_PER_TILE: tl.constexpr, HAS_SHIFT: tl.constexpr,
    DOT_PRECISION: tl.constexpr, SPLIT: tl.constexpr, SEARCH_BLOCK: tl.constexpr,
):
    head = tl.program_id(0)
    block = tl.program_id(1)
    seq = tl.program_id(2) // num_splits
    split = tl.program_id(2) % num_splits
    q_begin = tl.load(cu_seqlens_ptr + seq)
    q_end = tl.load(cu_seqlens_ptr + seq + 1)
    if q_begin + block * BLOCK_M >= q_end:
        return
    kv_head = head // GROUP
    tokens = q_begin + block * BLOCK_M + tl.arange(0, BLOCK_M)
    tok_ok = tokens < q_end
    q_pos = tl.load(q_pos_ptr + tokens, mask=tok_ok, other=-1)
    d = tl.arange(0, HEAD_DIM)
    q_rows = q_ptr + tokens.to(tl.int64) * stride_q_tok + head * stride_q_head

    table_row = table_ptr + seq * stride_table_seq
    lens_row = lens_ptr + seq * stride_table_seq
    starts_row = starts_ptr + seq * stride_table_seq
    shifts_row = shifts_ptr + seq * stride_table_seq

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    first = split * entries_per_split
    end = tl.minimum(first + entries_per_split, num_entries)
    q_min = tl.min(tl.where(tok_ok, q_pos, 2147483647))
    q_max = tl.max(q_pos)
    full_end, causal_end = _causal_bounds(starts_row, lens_row, first, end, q_min, q_max, SEARCH_BLOCK)
    if HAS_SHIFT:  # the query rotated once per run of equal-shift pages (shift_runs)
        m_i, l_i, acc = fold_shift_runs(
            q_rows, tok_ok, q_pos, m_i, l_i, acc, k_ptr, v_ptr, table_row, lens_row, starts_row,
            shifts_row, inv_freq_ptr, first, full_end, kv_head, scale_log2,
            stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot, stride_v_head,
            BLOCK_M, HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, DOT_PRECISION, False, SEARCH_BLOCK)
        m_i, l_i, acc = fold_shift_runs(
            q_rows, tok_ok, q_pos, m_i, l_i, acc, k_ptr, v_ptr, table_row, lens_row, starts_row,
            shifts_row, inv_freq_ptr, full_end, causal_end, kv_head, scale_log2,
            stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot, stride_v_head,
            BLOCK_M, HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, DOT_PRECISION, True, SEARCH_BLOCK)
    else:
        q, _, _ = load_query_rows(q_rows, tok_ok, BLOCK_M, HEAD_DIM, False)
        # whole tiles of keys every query of the block sees need no causal mask
        unmasked_end = first + (full_end - first) // PAGES_PER_TILE * PAGES_PER_TILE
        m_i, l_i, acc = fold_tiles(
            q, q_pos, m_i, l_i, acc, k_ptr, v_ptr, table_row, lens_row, starts_row, first, unmasked_end,
            kv_head, scale_log2, stride_k_page, stride_k_slot, stride_k_head, stride_v_page,
            stride_v_slot, stride_v_head, HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, DOT_PRECISION, False)
        m_i, l_i, acc = fold_tiles(
            q, q_pos, m_i, l_i, acc, k_ptr, v_ptr, table_row, lens_row, starts_row, unmasked_end,
            causal_end, kv_head, scale_log2, stride_k_page, stride_k_slot, stride_k_head,
            stride_v_page, stride_v_slot, stride_v_head, HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE,
            DOT_PRECISION, True)

    out, lse = split_result(m_i, l_i, acc)
    if SPLIT:
        part_rows = (tokens.to(tl.int64) * num_q_heads + head) * num_splits + split  # [T, Hq, splits]
        tl.store(part_lse_ptr + part_rows, lse, mask=tok_ok)
        tl.store(part_out_ptr + part_rows[:, None] * HEAD_DIM + d[None, :], out, mask=tok_ok[:, None])
    else:
        out_rows = out_ptr + tokens.to(tl.int64) * stride_o_tok + head * stride_o_head
        tl.store(out_rows[:, None] + d[None, :], out.to(out_ptr.dtype.element_ty), mask=tok_ok[:, None])


# Tile configurations as data: (query rows, pages per tile, num_warps, num_stages), by platform.
# Measured on an H100 with the causal tile bounds (docs/benchmarks.md, "Extend tiles"): 128 x 128
# tiles in 8 warps beat 128 x 64 by up to 7 % from 256 new tokens on (within 2 % below them) at one
# program per SM (255 registers). "cuda_narrow" (128 x 64) is for shifted pages, where the runs'
# query rotation (shift_runs) leaves 128 x 128 spilling (232-byte stack) and 1-9 % slower on runs of
# 24 pages, and for 4-byte elements, whose three stages of 128-key tiles do not fit in shared
# memory. 64-row tiles and 2 pages a tile are 10-35 % slower everywhere.
EXTEND_CONFIGS = {
    "cuda": {"block_m": 128, "pages_per_tile": 8, "num_warps": 8, "num_stages": 3},
    "cuda_narrow": {"block_m": 128, "pages_per_tile": 4, "num_warps": 8, "num_stages": 3},
    "interpreter": {"block_m": 16, "pages_per_tile": 2, "num_warps": 4, "num_stages": 1},
}
MIN_ENTRIES_PER_SPLIT = 64  # 1024 keys: below this the partial outputs cost more than they save
FULL_GRID_PER_SM = 4  # programs per SM above which the grid needs no split-K
MAX_SPLITS = 16
# An extend program of the "cuda" tiles keeps an SM's tensor cores busy alone: time goes with the
# programs the busiest SM runs, ceil(programs * splits / SMs), times each one's share of the keys
# (1 / splits); an SM with fewer than two programs has nothing to overlap one program's loads with;
# and each split writes and merges partial outputs in proportion to the programs (queries x heads)
# per SM. Below FULL_GRID_PER_SM the unsplit grid was slower than some split on every shape
# measured, so it is not a candidate. H100 with 128-key tiles, paged/SDPA with the chosen splits
# (and the best of 1-10 where it differs): 512 new over 16k: 12q/2kv 8 -> 1.196 (5: 1.190),
# 28q/4kv 7 -> 1.048, 32q/8kv 2 -> 1.085; 2048 new: 12q/2kv 2 -> 0.972, 28q/4kv 2 -> 1.096,
# 32q/8kv 2 -> 1.183. benchmarks/kernels.py --extend-splits.
SPLIT_COST = 0.025  # per split, x programs per SM, in units of one unsplit program's time
UNDERFILL_COST = 0.1  # per missing program per SM below two


def extend_num_splits(*, num_programs: int, num_entries: int, sm_count: int) -> int:
    """Split the keys when (query block, head, sequence) programs alone would leave SMs idle (a
    short chunk over a long cached prefix): the split count of least modelled time (see above)."""
    most = min(MAX_SPLITS, num_entries // MIN_ENTRIES_PER_SPLIT)
    if num_programs >= FULL_GRID_PER_SM * sm_count or most < 2:
        return 1

    def cost(splits: int) -> float:
        per_sm = num_programs * splits / sm_count
        busiest = triton.cdiv(num_programs * splits, sm_count) / splits
        underfill = UNDERFILL_COST * max(0.0, 2 - per_sm)
        return busiest * (1 + underfill) + SPLIT_COST * splits * num_programs / sm_count

    return min(range(2, most + 1), key=cost)


def paged_extend(
    *,
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    page_starts: torch.Tensor,
    page_lens: torch.Tensor,
    page_shifts: torch.Tensor | None,
    cu_seqlens_q: torch.Tensor,
    q_positions: torch.Tensor,
    rope_inv_freq: torch.Tensor | None,
    scale: float,
    max_seqlen_q: int | None = None,
    config: dict | None = None,
    num_splits: int | None = None,
) -> torch.Tensor:
    """Triton paged extend; same contract as paged_extend_ref. max_seqlen_q (the longest query
    chunk, known to the caller) saves a host sync; config (keys as in EXTEND_CONFIGS) and
    num_splits override the heuristics (benchmarks)."""
    require_triton()
    total_q, num_q_heads, head_dim = q.shape
    num_kv_heads = k_cache.shape[2]
    num_seqs = cu_seqlens_q.shape[0] - 1
    check_paged_inputs(q=q, k_cache=k_cache, v_cache=v_cache, block_tables=block_tables,
                       page_starts=page_starts, page_lens=page_lens, page_shifts=page_shifts,
                       rope_inv_freq=rope_inv_freq, num_seqs=num_seqs)
    assert page_starts.dtype == torch.int32 and page_starts.stride() == block_tables.stride()
    assert cu_seqlens_q.dtype == q_positions.dtype == torch.int32 and q_positions.shape == (total_q,)
    assert q_positions.is_contiguous() and cu_seqlens_q.is_contiguous()
    has_shift = page_shifts is not None
    narrow = has_shift or q.element_size() > 2
    platform = ("cuda_narrow" if narrow else "cuda") if q.is_cuda else "interpreter"
    cfg = config or EXTEND_CONFIGS[platform]
    out = torch.empty_like(q)
    if total_q == 0 or num_seqs == 0:
        return out
    if max_seqlen_q is None:
        max_seqlen_q = int((cu_seqlens_q[1:] - cu_seqlens_q[:-1]).max())  # host sync: grid size
    num_entries = block_tables.shape[1]
    q_blocks = triton.cdiv(max(max_seqlen_q, 1), cfg["block_m"])
    if num_splits is None:
        num_splits = extend_num_splits(num_programs=num_q_heads * q_blocks * num_seqs,
                                       num_entries=num_entries, sm_count=device_sm_count(q.device))
    entries_per_split, num_splits = even_splits(num_entries, num_splits)
    split = num_splits > 1
    part_shape = (total_q, num_q_heads, num_splits, head_dim) if split else (1, 1, 1, 1)
    part_out = torch.empty(part_shape, dtype=torch.float32, device=q.device)
    part_lse = torch.empty(part_shape[:3], dtype=torch.float32, device=q.device)
    grid = (num_q_heads, q_blocks, num_seqs * num_splits)
    _extend_kernel[grid](
        q_ptr=q, k_ptr=k_cache, v_ptr=v_cache, out_ptr=out, part_out_ptr=part_out,
        part_lse_ptr=part_lse, cu_seqlens_ptr=cu_seqlens_q,
        q_pos_ptr=q_positions, table_ptr=block_tables, starts_ptr=page_starts, lens_ptr=page_lens,
        shifts_ptr=page_shifts if has_shift else page_lens,
        inv_freq_ptr=rope_inv_freq if has_shift else q,
        scale_log2=scale * 1.4426950408889634, num_entries=num_entries,
        entries_per_split=entries_per_split, num_splits=num_splits, num_q_heads=num_q_heads,
        stride_q_tok=q.stride(0), stride_q_head=q.stride(1),
        stride_o_tok=out.stride(0), stride_o_head=out.stride(1),
        stride_k_page=k_cache.stride(0), stride_k_slot=k_cache.stride(1), stride_k_head=k_cache.stride(2),
        stride_v_page=v_cache.stride(0), stride_v_slot=v_cache.stride(1), stride_v_head=v_cache.stride(2),
        stride_table_seq=block_tables.stride(0),
        GROUP=num_q_heads // num_kv_heads, BLOCK_M=cfg["block_m"], HEAD_DIM=head_dim,
        PAGE_SIZE=PAGE_SIZE, PAGES_PER_TILE=cfg["pages_per_tile"], HAS_SHIFT=has_shift,
        DOT_PRECISION=dot_precision(q.dtype), SPLIT=split,
        SEARCH_BLOCK=min(triton.next_power_of_2(max(entries_per_split, 16)), 1024),
        num_warps=cfg["num_warps"], num_stages=cfg["num_stages"],
    )
    if split:
        merge_splits(part_out=part_out, part_lse=part_lse, out=out)
    return out


def paged_extend_ref(
    *,
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    page_starts: torch.Tensor,
    page_lens: torch.Tensor,
    page_shifts: torch.Tensor | None,
    cu_seqlens_q: torch.Tensor,
    q_positions: torch.Tensor,
    rope_inv_freq: torch.Tensor | None,
    scale: float,
) -> torch.Tensor:
    num_q_heads = q.shape[1]
    num_kv_heads = k_cache.shape[2]
    group = num_q_heads // num_kv_heads
    out = torch.empty_like(q)
    bounds = cu_seqlens_q.tolist()
    for seq in range(len(bounds) - 1):
        lo, hi = bounds[seq], bounds[seq + 1]
        if hi == lo:
            continue
        keys, values, key_pos = gather_sequence_kv(
            seq=seq, k_cache=k_cache, v_cache=v_cache, block_tables=block_tables,
            page_starts=page_starts, page_lens=page_lens, page_shifts=page_shifts,
            rope_inv_freq=rope_inv_freq,
        )
        qs = q[lo:hi].transpose(0, 1).to(torch.float32)  # (Hq, n_q, D)
        ks = keys.transpose(0, 1).to(torch.float32).repeat_interleave(group, dim=0)  # (Hq, n_k, D)
        vs = values.transpose(0, 1).to(torch.float32).repeat_interleave(group, dim=0)
        allowed = key_pos[None, :] <= q_positions[lo:hi].long()[:, None]  # (n_q, n_k)
        scores = torch.matmul(qs, ks.transpose(1, 2)) * scale  # (Hq, n_q, n_k)
        scores = scores.masked_fill(~allowed[None], float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        out[lo:hi] = torch.matmul(probs, vs).transpose(0, 1).to(q.dtype)  # (n_q, Hq, D)
    return out
