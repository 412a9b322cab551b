"""A paged decode variant whose warps each fold their own tile: the split kernel's loop takes
num_warps tiles at a time as one [warps, keys, D] block, with one running softmax per warp (a batched
tl.dot over the leading dimension puts one batch entry on each warp), and merges the warps' softmaxes
once after the loop. The shipped kernel (codepager.kernels.paged_decode) spreads one tile's keys
over its warps, so every tile's row max, row sum and probabilities cross warps through shared
memory behind barriers (its TTGIR: mma warpsPerCTA [1, 2], two cross-warp reductions and a
shared-memory round trip of p per tile). Plain launches, no page shifts; timed against the shipped
kernel on the shapes that decide its targets; tests/kernels/test_benchmark_decode_variants.py
checks it against paged_decode_ref in the interpreter.

    python benchmarks/decode_warp_tiles.py [--shapes 12x2x8x16384,...] [--quick]
"""

from __future__ import annotations

import itertools
import sys

import torch
import triton
import triton.language as tl
from decode_shapes import VariantShape, variant_main  # benchmarks/ on sys.path

from codepager.kernels.paged_layout import PAGE_SIZE
from codepager.kernels.paged_tiles import even_splits, load_query_rows
from codepager.kernels.pdl import pdl_release
from codepager.kernels.split_merge import merge_splits, split_result

SHAPES = [(12, 2, 8, 16384), (12, 2, 1, 32768), (12, 2, 64, 4096), (28, 4, 8, 16384), (32, 8, 1, 32768)]


@triton.jit
def _warp_tiles_kernel(
    q_ptr, k_ptr, v_ptr, table_ptr, lens_ptr, part_out_ptr, part_lse_ptr, scale_log2, num_entries,
    entries_per_split, num_splits, num_q_heads, stride_q_seq, stride_q_head, stride_page, stride_slot,
    stride_head, stride_table_seq,
    GROUP: tl.constexpr, BLOCK_H: tl.constexpr, HEAD_DIM: tl.constexpr, PAGE_SIZE: tl.constexpr,
    PPT: tl.constexpr, WARPS: tl.constexpr, SPLIT_ENTRIES: tl.constexpr, RELEASE_MERGE: tl.constexpr,
):
    pdl_release(RELEASE_MERGE)
    seq, kv_head, split = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    first = split * entries_per_split
    split_len = tl.minimum(first + entries_per_split, num_entries) - first
    e = tl.arange(0, SPLIT_ENTRIES)
    pages = tl.load(table_ptr + seq * stride_table_seq + first + e, mask=e < split_len, other=0)
    lens = tl.load(lens_ptr + seq * stride_table_seq + first + e, mask=e < split_len, other=0)
    heads = kv_head * GROUP + tl.arange(0, BLOCK_H)
    row_ok = heads < (kv_head + 1) * GROUP
    q, _, _ = load_query_rows(q_ptr + seq * stride_q_seq + heads * stride_q_head, row_ok, BLOCK_H, HEAD_DIM,
                              False)
    d = tl.arange(0, HEAD_DIM)
    q3 = tl.broadcast_to(q[None, :, :], [WARPS, BLOCK_H, HEAD_DIM])
    BLOCK_N: tl.constexpr = PPT * PAGE_SIZE
    w = tl.arange(0, WARPS)[:, None]
    n = tl.arange(0, BLOCK_N)[None, :]
    m3 = tl.full([WARPS, BLOCK_H], float("-inf"), dtype=tl.float32)
    l3 = tl.zeros([WARPS, BLOCK_H], dtype=tl.float32)
    acc3 = tl.zeros([WARPS, BLOCK_H, HEAD_DIM], dtype=tl.float32)
    for t in range(0, split_len, WARPS * PPT):
        local = t + w * PPT + n // PAGE_SIZE  # (WARPS, BLOCK_N): warp w's tile is PPT pages
        in_split = local < split_len
        flat = tl.reshape(tl.minimum(local, SPLIT_ENTRIES - 1), [WARPS * BLOCK_N])
        page = tl.reshape(tl.gather(pages, flat, axis=0), [WARPS, BLOCK_N]).to(tl.int64)
        slot = n % PAGE_SIZE
        valid = in_split & (slot < tl.reshape(tl.gather(lens, flat, axis=0), [WARPS, BLOCK_N]))
        offs = page * stride_page + slot * stride_slot + kv_head * stride_head  # (WARPS, BLOCK_N)
        ptrs = offs[:, :, None] + d[None, None, :]
        k3 = tl.load(k_ptr + ptrs, mask=valid[:, :, None], other=0.0)
        v3 = tl.load(v_ptr + ptrs, mask=valid[:, :, None], other=0.0)
        scores = tl.dot(q3, tl.trans(k3, (0, 2, 1)))  # (WARPS, BLOCK_H, BLOCK_N)
        scores = tl.where(valid[:, None, :], scores * scale_log2, float("-inf"))
        m_new = tl.maximum(m3, tl.max(scores, axis=2))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m3 - m_safe)
        p = tl.exp2(scores - m_safe[:, :, None])
        l3 = l3 * alpha + tl.sum(p, axis=2)
        acc3 = acc3 * alpha[:, :, None] + tl.dot(p.to(v3.dtype), v3)
        m3 = m_new
    m_i = tl.max(m3, axis=0)
    m_safe = tl.where(m_i == float("-inf"), 0.0, m_i)
    weight = tl.exp2(m3 - m_safe[None, :])  # (WARPS, BLOCK_H): 0 for a warp that saw no key
    l_i = tl.sum(l3 * weight, axis=0)
    acc = tl.sum(acc3 * weight[:, :, None], axis=0)
    out, lse = split_result(m_i, l_i, acc)
    part_rows = (seq * num_q_heads + heads) * num_splits + split  # [S, Hq, splits]
    tl.store(part_lse_ptr + part_rows, lse, mask=row_ok)
    tl.store(part_out_ptr + part_rows[:, None] * HEAD_DIM + d[None, :], out, mask=row_ok[:, None])


def warp_tiles_decode(*, q, k_cache, v_cache, block_tables, page_lens, scale, num_splits, ppt=2, num_warps=2,
                      num_stages=3, **_ignored) -> torch.Tensor:
    num_seqs, num_q_heads, head_dim = q.shape
    num_kv_heads = k_cache.shape[2]
    group = num_q_heads // num_kv_heads
    assert group <= 16 and k_cache.stride() == v_cache.stride()
    num_entries = block_tables.shape[1]
    per_split, num_splits = even_splits(num_entries, num_splits, ppt * num_warps)
    part_out = torch.empty(num_seqs, num_q_heads, num_splits, head_dim, dtype=torch.float32, device=q.device)
    part_lse = torch.empty(num_seqs, num_q_heads, num_splits, dtype=torch.float32, device=q.device)
    out = torch.empty_like(q)
    _warp_tiles_kernel[(num_seqs, num_kv_heads, num_splits)](
        q, k_cache, v_cache, block_tables, page_lens, part_out, part_lse, scale * 1.4426950408889634,
        num_entries, per_split, num_splits, num_q_heads, q.stride(0), q.stride(1), k_cache.stride(0),
        k_cache.stride(1), k_cache.stride(2), block_tables.stride(0),
        GROUP=group, BLOCK_H=16, HEAD_DIM=head_dim, PAGE_SIZE=PAGE_SIZE, PPT=ppt, WARPS=num_warps,
        SPLIT_ENTRIES=triton.next_power_of_2(max(per_split, ppt * num_warps)), RELEASE_MERGE=q.is_cuda,
        num_warps=num_warps, num_stages=num_stages)
    merge_splits(part_out=part_out, part_lse=part_lse, out=out, pdl=q.is_cuda)
    return out


def probe_shape(hq, hkv, batch, length, copy_bw, gen, quick: bool) -> None:
    shape = VariantShape(hq, hkv, batch, length, copy_bw, gen)
    tiles = [(2, 2, 3)] if quick else [(1, 2, 3), (1, 2, 4), (2, 2, 2), (2, 2, 3), (1, 4, 3), (2, 4, 2)]
    per_sms = [2] if quick else [2, 3]
    for (ppt, warps, stages), per_sm in itertools.product(tiles, per_sms):
        splits = max(1, min(round(per_sm * shape.sm_count / (batch * hkv)), shape.entries // 4, 256))
        shape.time_variant(warp_tiles_decode, f"warp tiles splits={splits} ppt{ppt} w{warps} s{stages}",
                           num_splits=splits, ppt=ppt, num_warps=warps, num_stages=stages)


def main(argv: list[str] | None = None) -> int:
    return variant_main(__doc__, SHAPES, probe_shape, argv)


if __name__ == "__main__":
    sys.exit(main())
