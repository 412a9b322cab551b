"""The fast CPU paged attention against the plain-torch references (the oracle) on random layouts."""

from __future__ import annotations

import pytest
import torch

from codepager.kernels.paged_layout import PAGE_SIZE
from codepager.model.attention_backend import (
    AttentionMetadata,
    cpu_paged_attention,
    reference_paged_attention,
)


def _random_layout(gen: torch.Generator, segments: list[list[tuple[int, int]]], new_tokens: list[int],
                   *, num_kv_heads: int, head_dim: int, dtype: torch.dtype, unused_entries: int = 2,
                   pending: list[int] | None = None):
    """segments[seq] = [(length, shift), ...], each segment starting on a fresh page (partial pages in
    the middle of a table), pages scattered over a pool of random garbage; the last new_tokens[seq]
    positions before pending[seq] not-yet-computed ones are this pass's queries; entries of pending
    tokens are left with length 0 or cut short, as the engine leaves them during chunked prefill."""
    pending = pending or [0] * len(segments)
    pages_needed = sum(-(-n // PAGE_SIZE) for segs in segments for n, _ in segs)
    num_pages = pages_needed + 5
    order = torch.randperm(num_pages, generator=gen).tolist()
    max_entries = max(sum(-(-n // PAGE_SIZE) for n, _ in segs) for segs in segments) + unused_entries
    shape = (len(segments), max_entries)
    tables = torch.full(shape, -1, dtype=torch.int32)
    starts = torch.zeros(shape, dtype=torch.int32)
    lens = torch.zeros(shape, dtype=torch.int32)
    shifts = torch.zeros(shape, dtype=torch.int32)
    positions, cu = [], [0]
    for seq, segs in enumerate(segments):
        entry, pos = 0, 0
        total = sum(n for n, _ in segs)
        end = total - pending[seq]  # the pass computes up to here; keys past it are not there yet
        for length, shift in segs:
            for first in range(0, length, PAGE_SIZE):
                tables[seq, entry] = order.pop()
                starts[seq, entry] = pos + first
                lens[seq, entry] = max(0, min(PAGE_SIZE, length - first, end - pos - first))
                shifts[seq, entry] = shift
                entry += 1
            pos += length
        positions.extend(range(end - new_tokens[seq], end))
        cu.append(len(positions))
    kv_shape = (num_pages, PAGE_SIZE, num_kv_heads, head_dim)
    k_cache = torch.randn(kv_shape, generator=gen).to(dtype)
    v_cache = torch.randn(kv_shape, generator=gen).to(dtype)
    meta = AttentionMetadata(
        slot_mapping=torch.full((len(positions),), -1, dtype=torch.int64),
        block_tables=tables, page_starts=starts, page_lens=lens,
        page_shifts=shifts if bool((shifts != 0).any()) else None,
        cu_seqlens_q=torch.tensor(cu, dtype=torch.int32),
        q_positions=torch.tensor(positions, dtype=torch.int32),
        is_decode=all(n == 1 for n in new_tokens),
    )
    return k_cache, v_cache, meta


CASES = {
    # name: (segments per sequence [(length, shift)], new tokens per sequence, q heads, kv heads)
    "prefill_from_empty": ([[(37, 0)]], [37], 6, 2),
    "chunked_prefill_two_sequences": ([[(64, 0)], [(45, 0)]], [16, 29], 4, 2),
    "chunk_before_pending_pages": ([[(30, 0), (40, 3)], [(45, 0)]], [16, 10], 6, 2, [25, 18]),
    "append_to_cached_prefix": ([[(50, 0), (3, 0)]], [3], 6, 2),
    "shifted_segments_then_typed_text": ([[(20, 7), (21, 20), (13, 0)], [(9, 0), (18, 0)]], [13, 18], 4, 2),
    "mixed_batch_with_one_token": ([[(1, 0)], [(70, 0)], [(33, 33)]], [1, 20, 33], 4, 1),
    "decode_partial_pages": ([[(20, 0), (13, 0), (1, 0)], [(5, 0), (1, 0)]], [1, 1], 6, 2),
    "decode_shifted_pages": ([[(17, 5), (30, 17), (1, 0)]], [1], 6, 2),
    "decode_mha": ([[(100, 0)], [(3, 0)]], [1, 1], 2, 2),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cpu_attention_matches_reference_fp32(name):
    segments, new_tokens, q_heads, kv_heads, *pending = CASES[name]
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    head_dim = 64
    k_cache, v_cache, meta = _random_layout(gen, segments, new_tokens, num_kv_heads=kv_heads,
                                            head_dim=head_dim, dtype=torch.float32,
                                            pending=pending[0] if pending else None)
    q = torch.randn(int(meta.cu_seqlens_q[-1]), q_heads, head_dim, generator=gen)
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    ref = reference_paged_attention(q, k_cache, v_cache, meta, inv_freq, head_dim**-0.5)
    out = cpu_paged_attention(q, k_cache, v_cache, meta, inv_freq, head_dim**-0.5)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5), float((out - ref).abs().max())


def test_random_layouts_match_reference_fp32():
    gen = torch.Generator().manual_seed(6)
    for trial in range(40):
        num_seqs = int(torch.randint(1, 4, (1,), generator=gen))
        segments, new_tokens, pending = [], [], []
        decode = trial % 2 == 0
        for _ in range(num_seqs):
            segs = []
            for _ in range(int(torch.randint(1, 5, (1,), generator=gen))):
                length = int(torch.randint(1, 40, (1,), generator=gen))
                shift = int(torch.randint(0, 50, (1,), generator=gen)) if trial % 3 == 0 else 0
                segs.append((length, shift))
            total = sum(n for n, _ in segs)
            segments.append(segs)
            waiting = 0 if decode else int(torch.randint(0, total, (1,), generator=gen))
            pending.append(waiting)
            chunk = 1 if decode else int(torch.randint(1, total - waiting + 1, (1,), generator=gen))
            new_tokens.append(chunk)
        q_heads, kv_heads = [(6, 2), (4, 4), (8, 1)][trial % 3]
        head_dim = 32
        k_cache, v_cache, meta = _random_layout(gen, segments, new_tokens, num_kv_heads=kv_heads,
                                                head_dim=head_dim, dtype=torch.float32, pending=pending)
        q = torch.randn(int(meta.cu_seqlens_q[-1]), q_heads, head_dim, generator=gen)
        inv_freq = 1.0 / (500.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        ref = reference_paged_attention(q, k_cache, v_cache, meta, inv_freq, 0.17)
        out = cpu_paged_attention(q, k_cache, v_cache, meta, inv_freq, 0.17)
        assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5), (trial, float((out - ref).abs().max()))


def test_fp16_caches_match_reference():
    gen = torch.Generator().manual_seed(16)
    segments, new_tokens = [[(20, 7), (21, 20), (13, 0)], [(40, 0)]], [13, 5]
    k_cache, v_cache, meta = _random_layout(gen, segments, new_tokens, num_kv_heads=2, head_dim=64,
                                            dtype=torch.float16)
    q = torch.randn(int(meta.cu_seqlens_q[-1]), 6, 64, generator=gen).to(torch.float16)
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, 64, 2, dtype=torch.float32) / 64))
    ref = reference_paged_attention(q, k_cache, v_cache, meta, inv_freq, 0.125)
    out = cpu_paged_attention(q, k_cache, v_cache, meta, inv_freq, 0.125)
    assert out.dtype == torch.float16
    assert torch.allclose(out.float(), ref.float(), atol=2e-3, rtol=2e-3)


def test_plan_is_built_once_and_reused_across_layers():
    gen = torch.Generator().manual_seed(3)
    k_cache, v_cache, meta = _random_layout(gen, [[(30, 4), (10, 0)]], [10], num_kv_heads=2, head_dim=32,
                                            dtype=torch.float32)
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, 32, 2, dtype=torch.float32) / 32))
    q = torch.randn(10, 4, 32, generator=gen)
    cpu_paged_attention(q, k_cache, v_cache, meta, inv_freq, 0.2)
    plan = meta.cpu_plan
    assert plan is not None and plan.shift_cos is not None
    assert plan.blocks[0].blocked is not None  # the new tokens are causal among themselves
    # a second layer: other caches, the same plan object, still the reference's answer
    k2, v2 = torch.randn_like(k_cache), torch.randn_like(v_cache)
    out = cpu_paged_attention(q, k2, v2, meta, inv_freq, 0.2)
    assert meta.cpu_plan is plan
    meta.cpu_plan = None
    ref = reference_paged_attention(q, k2, v2, meta, inv_freq, 0.2)
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)


def test_decode_plan_needs_no_mask():
    gen = torch.Generator().manual_seed(4)
    k_cache, v_cache, meta = _random_layout(gen, [[(33, 0)], [(7, 0)]], [1, 1], num_kv_heads=2, head_dim=32,
                                            dtype=torch.float32)
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, 32, 2, dtype=torch.float32) / 32))
    cpu_paged_attention(torch.randn(2, 4, 32, generator=gen), k_cache, v_cache, meta, inv_freq, 0.2)
    assert all(block.blocked is None for block in meta.cpu_plan.blocks)
    assert [block.k_hi - block.k_lo for block in meta.cpu_plan.blocks] == [33, 7]


def test_long_prefill_split_into_query_blocks_matches_reference():
    gen = torch.Generator().manual_seed(5)
    k_cache, v_cache, meta = _random_layout(gen, [[(600, 0)], [(20, 0)]], [600, 20], num_kv_heads=2,
                                            head_dim=32, dtype=torch.float32)
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, 32, 2, dtype=torch.float32) / 32))
    q = torch.randn(620, 6, 32, generator=gen)
    ref = reference_paged_attention(q, k_cache, v_cache, meta, inv_freq, 0.2)
    out = cpu_paged_attention(q, k_cache, v_cache, meta, inv_freq, 0.2)
    assert len(meta.cpu_plan.blocks) == 3
    assert meta.cpu_plan.blocks[0].k_hi == 512  # the first block's queries cannot see later keys
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)


def test_table_out_of_position_order_matches_reference():
    gen = torch.Generator().manual_seed(7)
    k_cache, v_cache, meta = _random_layout(gen, [[(16, 0), (16, 9), (20, 0)]], [30], num_kv_heads=2,
                                            head_dim=32, dtype=torch.float32)
    order = torch.tensor([2, 0, 3, 1, 4, 5])  # the pages' logical positions no longer follow the table
    for name in ("block_tables", "page_starts", "page_lens", "page_shifts"):
        setattr(meta, name, getattr(meta, name)[:, order].contiguous())
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, 32, 2, dtype=torch.float32) / 32))
    q = torch.randn(30, 4, 32, generator=gen)
    ref = reference_paged_attention(q, k_cache, v_cache, meta, inv_freq, 0.2)
    out = cpu_paged_attention(q, k_cache, v_cache, meta, inv_freq, 0.2)
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pages", ["in_order", "scattered"])
def test_keys_read_in_place_or_gathered_match_reference(pages):
    """Pages in pool order are read in place (one run); 40 scattered pages are gathered first."""
    gen = torch.Generator().manual_seed(8)
    k_cache, v_cache, meta = _random_layout(gen, [[(40 * PAGE_SIZE - 3, 0)]], [1], num_kv_heads=2,
                                            head_dim=32, dtype=torch.float32)
    if pages == "in_order":
        meta.block_tables[0, :40] = torch.arange(40, dtype=torch.int32)
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, 32, 2, dtype=torch.float32) / 32))
    q = torch.randn(1, 6, 32, generator=gen)
    ref = reference_paged_attention(q, k_cache, v_cache, meta, inv_freq, 0.2)
    out = cpu_paged_attention(q, k_cache, v_cache, meta, inv_freq, 0.2)
    runs = meta.cpu_plan.runs
    assert (runs is not None and len(runs) == 1) if pages == "in_order" else runs is None
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)
