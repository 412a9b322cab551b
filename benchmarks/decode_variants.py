"""Paged decode variants measured against the shipped kernel on the shapes that decide its targets:
keys and values read by Hopper's tensor-memory accelerator (TMA: one bulk copy per page and
tensor, no per-thread address arithmetic) instead of per-thread pointer loads, and the split-K
merge done inside the split kernel by the last split of each (sequence, kv head) to finish (an
atomic arrival counter) instead of by a second kernel. Plain launches, no page shifts, full block
tables (no -1 entries), GQA groups of at most 16: the variants exist to find out whether either
closes the 12q/2kv 8x16k gap (neither did: docs/benchmarks.md), not to serve the engine;
tests/kernels/test_benchmark_decode_variants.py checks them against paged_decode_ref.

    python benchmarks/decode_variants.py [--shapes 12x2x8x16384,12x2x1x32768] [--quick]
"""

from __future__ import annotations

import itertools
import sys

import torch
import triton
import triton.language as tl
from decode_shapes import VariantShape, variant_main  # benchmarks/ on sys.path
from triton.tools.tensor_descriptor import TensorDescriptor

from codepager.kernels.paged_layout import PAGE_SIZE
from codepager.kernels.paged_tiles import even_splits
from codepager.kernels.pdl import pdl_release
from codepager.kernels.split_merge import merge_splits, split_result

SHAPES = [(12, 2, 8, 16384), (12, 2, 64, 4096), (12, 2, 1, 32768), (28, 4, 8, 16384), (32, 8, 1, 32768)]


@triton.jit
def _entry_of(values, e, index):
    """values[index] of a register-held table range as a scalar."""
    return tl.sum(tl.where(e == index, values, 0), axis=0)


@triton.jit
def _page_scores(q, k_ptr, k_desc, page, length, kv_head, scale_log2, stride_page, stride_slot,
                 stride_head, HEAD_DIM: tl.constexpr, PAGE_SIZE: tl.constexpr, TMA: tl.constexpr):
    slot = tl.arange(0, PAGE_SIZE)
    d = tl.arange(0, HEAD_DIM)
    if TMA:
        k = k_desc.load([page * PAGE_SIZE, kv_head * HEAD_DIM])
    else:
        rows = k_ptr + page.to(tl.int64) * stride_page + slot * stride_slot + kv_head * stride_head
        k = tl.load(rows[:, None] + d[None, :])
    scores = tl.dot(q, tl.trans(k)) * scale_log2
    return tl.where((slot < length)[None, :], scores, float("-inf"))


@triton.jit
def _page_values(v_ptr, v_desc, page, kv_head, stride_page, stride_slot, stride_head,
                 HEAD_DIM: tl.constexpr, PAGE_SIZE: tl.constexpr, TMA: tl.constexpr):
    if TMA:
        return v_desc.load([page * PAGE_SIZE, kv_head * HEAD_DIM])
    slot = tl.arange(0, PAGE_SIZE)
    d = tl.arange(0, HEAD_DIM)
    rows = v_ptr + page.to(tl.int64) * stride_page + slot * stride_slot + kv_head * stride_head
    return tl.load(rows[:, None] + d[None, :])


@triton.jit
def _merge_if_last(counter_ptr, part_out_ptr, part_lse_ptr, out_ptr, first_part_row, num_splits,
                   out_row_ptr, stride_out_head, rows_here,
                   HEAD_DIM: tl.constexpr, SPLIT_BLOCK: tl.constexpr):
    """Every split program calls this after storing its partials; the last one of its (sequence,
    kv head) to arrive merges that group's rows and re-arms the counter for the next call."""
    tl.debug_barrier()  # all of this program's partial stores come before its arrival
    arrived = tl.atomic_add(counter_ptr, 1, sem="acq_rel", scope="gpu")
    if arrived == num_splits - 1:
        s = tl.arange(0, SPLIT_BLOCK)
        d = tl.arange(0, HEAD_DIM)
        ok = s < num_splits
        for r in range(rows_here):
            part_row = first_part_row + r * num_splits
            lse = tl.load(part_lse_ptr + part_row + s, mask=ok, other=float("-inf"), cache_modifier=".cg")
            part = tl.load(part_out_ptr + (part_row + s)[:, None] * HEAD_DIM + d[None, :], mask=ok[:, None],
                           other=0.0, cache_modifier=".cg")
            m = tl.max(lse, axis=0)
            weight = tl.exp2(lse - m)
            merged = tl.sum(weight[:, None] * part, axis=0) / tl.sum(weight, axis=0)
            tl.store(out_row_ptr + r * stride_out_head + d, merged.to(out_ptr.dtype.element_ty))
        tl.atomic_xchg(counter_ptr, 0)


@triton.jit
def _variant_split_kernel(
    q_ptr, k_ptr, v_ptr, k_desc, v_desc, table_ptr, lens_ptr, part_out_ptr, part_lse_ptr, out_ptr,
    counter_ptr, scale_log2, num_entries, entries_per_split, num_splits, num_q_heads,
    stride_q_seq, stride_q_head, stride_page, stride_slot, stride_head, stride_table_seq,
    stride_out_seq, stride_out_head,
    GROUP: tl.constexpr, BLOCK_H: tl.constexpr, HEAD_DIM: tl.constexpr, PAGE_SIZE: tl.constexpr,
    PPT: tl.constexpr, SPLIT_ENTRIES: tl.constexpr, TMA: tl.constexpr, FUSED: tl.constexpr,
    SPLIT_BLOCK: tl.constexpr, RELEASE_MERGE: tl.constexpr,
):
    pdl_release(RELEASE_MERGE)
    seq, kv_head, split = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    first = split * entries_per_split
    end = tl.minimum(first + entries_per_split, num_entries)
    e = tl.arange(0, SPLIT_ENTRIES)
    in_split = first + e < end
    pages = tl.load(table_ptr + seq * stride_table_seq + first + e, mask=in_split, other=0)
    lens = tl.load(lens_ptr + seq * stride_table_seq + first + e, mask=in_split, other=0)
    rows = tl.arange(0, BLOCK_H)
    row_ok = rows < GROUP
    heads = kv_head * GROUP + rows
    d = tl.arange(0, HEAD_DIM)
    q = tl.load(q_ptr + seq * stride_q_seq + heads[:, None] * stride_q_head + d[None, :],
                mask=row_ok[:, None], other=0.0)
    m_i = tl.full([BLOCK_H], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_H], dtype=tl.float32)
    acc = tl.zeros([BLOCK_H, HEAD_DIM], dtype=tl.float32)
    for t in range(0, end - first, PPT):
        page0 = _entry_of(pages, e, t)
        s0 = _page_scores(q, k_ptr, k_desc, page0, _entry_of(lens, e, t), kv_head, scale_log2,
                          stride_page, stride_slot, stride_head, HEAD_DIM, PAGE_SIZE, TMA)
        v0 = _page_values(v_ptr, v_desc, page0, kv_head, stride_page, stride_slot, stride_head,
                          HEAD_DIM, PAGE_SIZE, TMA)
        m_new = tl.maximum(m_i, tl.max(s0, axis=1))
        if PPT == 2:  # past the split: page 0, length 0, all masked
            page1 = _entry_of(pages, e, t + 1)
            s1 = _page_scores(q, k_ptr, k_desc, page1, _entry_of(lens, e, t + 1), kv_head, scale_log2,
                              stride_page, stride_slot, stride_head, HEAD_DIM, PAGE_SIZE, TMA)
            v1 = _page_values(v_ptr, v_desc, page1, kv_head, stride_page, stride_slot, stride_head,
                              HEAD_DIM, PAGE_SIZE, TMA)
            m_new = tl.maximum(m_new, tl.max(s1, axis=1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m_i - m_safe)
        p0 = tl.exp2(s0 - m_safe[:, None])
        l_i = l_i * alpha + tl.sum(p0, axis=1)
        acc = acc * alpha[:, None] + tl.dot(p0.to(v0.dtype), v0)
        if PPT == 2:
            p1 = tl.exp2(s1 - m_safe[:, None])
            l_i += tl.sum(p1, axis=1)
            acc += tl.dot(p1.to(v1.dtype), v1)
        m_i = m_new
    out, lse = split_result(m_i, l_i, acc)
    part_rows = (seq * num_q_heads + heads) * num_splits + split  # [S, Hq, splits]
    tl.store(part_lse_ptr + part_rows, lse, mask=row_ok)
    tl.store(part_out_ptr + part_rows[:, None] * HEAD_DIM + d[None, :], out, mask=row_ok[:, None])
    if FUSED:
        _merge_if_last(counter_ptr + seq * tl.num_programs(1) + kv_head, part_out_ptr, part_lse_ptr, out_ptr,
                       (seq * num_q_heads + kv_head * GROUP) * num_splits, num_splits,
                       out_ptr + seq * stride_out_seq + kv_head * GROUP * stride_out_head, stride_out_head,
                       GROUP, HEAD_DIM, SPLIT_BLOCK)


_COUNTERS: dict[torch.device, torch.Tensor] = {}


def counters(n: int, device: torch.device) -> torch.Tensor:
    """Zeroed arrival counters, kept: every fused call leaves them zero again."""
    if device not in _COUNTERS or _COUNTERS[device].numel() < n:
        _COUNTERS[device] = torch.zeros(max(n, 4096), dtype=torch.int32, device=device)
    return _COUNTERS[device]


def variant_decode(*, q, k_cache, v_cache, block_tables, page_lens, scale, num_splits, ppt=2, tma=True,
                   fused=False, num_warps=4, num_stages=3, **_ignored) -> torch.Tensor:
    num_seqs, num_q_heads, head_dim = q.shape
    num_pages, _, num_kv_heads, _ = k_cache.shape
    group = num_q_heads // num_kv_heads
    assert group <= 16 and k_cache.is_contiguous() and v_cache.is_contiguous()
    num_entries = block_tables.shape[1]
    per_split, num_splits = even_splits(num_entries, num_splits, ppt)
    part_out = torch.empty(num_seqs, num_q_heads, num_splits, head_dim, dtype=torch.float32, device=q.device)
    part_lse = torch.empty(num_seqs, num_q_heads, num_splits, dtype=torch.float32, device=q.device)
    out = torch.empty_like(q)
    flat = (num_pages * PAGE_SIZE, num_kv_heads * head_dim)
    k_desc = TensorDescriptor.from_tensor(k_cache.view(flat), [PAGE_SIZE, head_dim]) if tma else k_cache
    v_desc = TensorDescriptor.from_tensor(v_cache.view(flat), [PAGE_SIZE, head_dim]) if tma else v_cache
    _variant_split_kernel[(num_seqs, num_kv_heads, num_splits)](
        q, k_cache, v_cache, k_desc, v_desc, block_tables, page_lens, part_out, part_lse, out,
        counters(num_seqs * num_kv_heads, q.device), scale * 1.4426950408889634, num_entries, per_split,
        num_splits, num_q_heads, q.stride(0), q.stride(1), k_cache.stride(0), k_cache.stride(1),
        k_cache.stride(2), block_tables.stride(0), out.stride(0), out.stride(1),
        GROUP=group, BLOCK_H=16, HEAD_DIM=head_dim, PAGE_SIZE=PAGE_SIZE, PPT=ppt,
        SPLIT_ENTRIES=triton.next_power_of_2(max(per_split, ppt)), TMA=tma, FUSED=fused,
        SPLIT_BLOCK=triton.next_power_of_2(num_splits), RELEASE_MERGE=q.is_cuda and not fused,
        num_warps=num_warps, num_stages=num_stages)
    if not fused:
        merge_splits(part_out=part_out, part_lse=part_lse, out=out, pdl=q.is_cuda)
    return out


def probe_shape(hq, hkv, batch, length, copy_bw, gen, quick: bool) -> None:
    shape = VariantShape(hq, hkv, batch, length, copy_bw, gen)
    tiles = [(2, 4, 3)] if quick else [(1, 2, 4), (1, 4, 4), (1, 4, 6), (2, 2, 3), (2, 4, 3), (2, 4, 4)]
    per_sms = [2] if quick else [2, 3, 4]
    for tma, fused, (ppt, w, st), per_sm in itertools.product([True, False], [False, True], tiles, per_sms):
        splits = max(1, min(round(per_sm * shape.sm_count / (batch * hkv)), shape.entries // 4, 256))
        if fused and splits > 64:
            continue
        options = dict(num_splits=splits, ppt=ppt, tma=tma, fused=fused, num_warps=w, num_stages=st)
        shape.time_variant(variant_decode, f"{'tma' if tma else 'ptr'}{' fused' if fused else ''} "
                           f"splits={splits} ppt{ppt} w{w} s{st}", **options)


def main(argv: list[str] | None = None) -> int:
    return variant_main(__doc__, SHAPES, probe_shape, argv)


if __name__ == "__main__":
    sys.exit(main())
