"""Triton paged decode vs its plain-torch reference (interpreter on CPU, fp32)."""

from __future__ import annotations

import pytest
import torch
from paged_cases import DEVICE, make_case, relative_error

from codepager.kernels.paged_decode import paged_decode, paged_decode_ref
from codepager.kernels.paged_decode_config import decode_num_splits

CASES = {
    # name: (segments per sequence [(length, shift)], q heads, kv heads)
    "mha_single_page": ([[(11, 0)]], 2, 2),
    "gqa_many_pages": ([[(150, 0)]], 6, 2),
    "gqa_mixed_batch": ([[(7, 0)], [(77, 0)], [(33, 0)]], 4, 1),
    "mha_segments_with_shifts": ([[(20, 0), (37, 20), (5, 57)], [(18, 100), (3, 0)]], 2, 2),
    "gqa_segments_with_shifts": ([[(40, 300), (9, 0), (21, 49)]], 8, 2),
}
VARIANTS = {  # launcher keywords: whether the split kernel loads its first tile apart from the loop,
    # and whether it reads its block-table range into registers before the loop
    "loop": {"prefetch": False, "config": {"table_ahead": 0}},
    "first_tile_apart": {"prefetch": True, "config": {"table_ahead": 0}},
    "table_ahead": {"prefetch": False, "config": {"table_ahead": 256}},
    "table_ahead_first_tile_apart": {"prefetch": True, "config": {"table_ahead": 256}},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("name", sorted(CASES))
def test_paged_decode_matches_reference(name, variant):
    segments, q_heads, kv_heads = CASES[name]
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    head_dim = 32
    case = make_case(segments=segments, num_kv_heads=kv_heads, head_dim=head_dim, generator=gen)
    q = torch.randn(len(segments), q_heads, head_dim, generator=gen).to(DEVICE)
    ref = paged_decode_ref(q=q, scale=head_dim**-0.5, **case.layout())
    out = paged_decode(q=q, scale=head_dim**-0.5, **VARIANTS[variant], **case.layout())
    assert torch.isfinite(out).all()
    assert relative_error(out, ref) < 1e-4


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("num_splits", [1, 3, 50])
def test_paged_decode_split_count_does_not_change_the_result(num_splits, variant):
    gen = torch.Generator().manual_seed(num_splits)
    case = make_case(segments=[[(90, 0)], [(17, 0), (30, 17)]], num_kv_heads=2, head_dim=32,
                     generator=gen)
    q = torch.randn(2, 4, 32, generator=gen).to(DEVICE)
    ref = paged_decode_ref(q=q, scale=0.25, **case.layout())
    out = paged_decode(q=q, scale=0.25, num_splits=num_splits, **VARIANTS[variant], **case.layout())
    assert relative_error(out, ref) < 1e-4


def test_plain_decode_splits_aim_at_two_programs_per_sm_without_tiny_splits():
    assert decode_num_splits(num_seqs=1, num_kv_heads=2, num_entries=2048, sm_count=132) == 132
    assert decode_num_splits(num_seqs=1, num_kv_heads=2, num_entries=256, sm_count=132) == 64
    assert decode_num_splits(num_seqs=1, num_kv_heads=8, num_entries=2048, sm_count=132) == 33
    assert decode_num_splits(num_seqs=8, num_kv_heads=2, num_entries=1024, sm_count=132) == 16
    assert decode_num_splits(num_seqs=64, num_kv_heads=2, num_entries=256, sm_count=132) == 2
    assert decode_num_splits(num_seqs=64, num_kv_heads=8, num_entries=256, sm_count=132) == 1
    assert decode_num_splits(num_seqs=1, num_kv_heads=1, num_entries=4096, sm_count=132) == 256  # capped
    assert decode_num_splits(num_seqs=1, num_kv_heads=2, num_entries=40, sm_count=132) == 10
    assert decode_num_splits(num_seqs=1, num_kv_heads=2, num_entries=5, sm_count=132) == 1


def test_chained_decode_splits_aim_at_four_programs_per_sm_with_at_most_128_splits():
    assert decode_num_splits(num_seqs=1, num_kv_heads=2, num_entries=2048, sm_count=132, chained=True) == 128
    assert decode_num_splits(num_seqs=8, num_kv_heads=2, num_entries=1024, sm_count=132, chained=True) == 33
    assert decode_num_splits(num_seqs=1, num_kv_heads=8, num_entries=2048, sm_count=132, chained=True) == 66
    assert decode_num_splits(num_seqs=64, num_kv_heads=8, num_entries=256, sm_count=132, chained=True) == 1
