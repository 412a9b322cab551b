"""Triton paged extend vs its plain-torch reference (interpreter on CPU, fp32)."""

from __future__ import annotations

import pytest
import torch
from paged_cases import DEVICE, make_case, relative_error

from codepager.kernels.paged_extend import extend_num_splits, paged_extend, paged_extend_ref

CASES = {
    # name: (segments per sequence [(length, shift)], new tokens per sequence, q heads, kv heads)
    "mha_prefill_from_empty": ([[(37, 0)]], [37], 2, 2),
    "gqa_chunked_prefill": ([[(64, 0)], [(45, 0)]], [16, 29], 4, 2),
    "gqa_append_to_cached_prefix": ([[(50, 0), (3, 0)]], [3], 6, 2),
    "mha_shifted_segments_then_typed_text": ([[(20, 7), (21, 20), (13, 0)], [(9, 0), (18, 0)]],
                                             [13, 18], 2, 2),
    "gqa_mixed_batch_with_one_token": ([[(1, 0)], [(70, 0)], [(33, 33)]], [1, 20, 33], 4, 1),
}


def _queries(case, new_tokens, q_heads, head_dim, gen):
    positions, cu = [], [0]
    for seq_len, n in zip(case.seq_lens, new_tokens, strict=True):
        positions.extend(range(seq_len - n, seq_len))
        cu.append(len(positions))
    q = torch.randn(len(positions), q_heads, head_dim, generator=gen).to(DEVICE)
    return (q, torch.tensor(cu, dtype=torch.int32, device=DEVICE),
            torch.tensor(positions, dtype=torch.int32, device=DEVICE))


@pytest.mark.parametrize("name", sorted(CASES))
def test_paged_extend_matches_reference(name):
    segments, new_tokens, q_heads, kv_heads = CASES[name]
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    head_dim = 32
    case = make_case(segments=segments, num_kv_heads=kv_heads, head_dim=head_dim, generator=gen)
    q, cu, positions = _queries(case, new_tokens, q_heads, head_dim, gen)
    kwargs = dict(q=q, cu_seqlens_q=cu, q_positions=positions, scale=head_dim**-0.5, **case.layout())
    ref = paged_extend_ref(**kwargs)
    out = paged_extend(**kwargs)
    assert torch.isfinite(out).all()
    assert relative_error(out, ref) < 1e-4


def test_paged_extend_writes_only_its_rows_and_every_row():
    gen = torch.Generator().manual_seed(5)
    case = make_case(segments=[[(30, 0)], [(19, 0)]], num_kv_heads=2, head_dim=16, generator=gen)
    q, cu, positions = _queries(case, [30, 19], 2, 16, gen)
    out = paged_extend(q=q, cu_seqlens_q=cu, q_positions=positions, scale=0.25, **case.layout())
    ref = paged_extend_ref(q=q, cu_seqlens_q=cu, q_positions=positions, scale=0.25, **case.layout())
    assert torch.isfinite(out).all()  # torch.empty output: an unwritten row would show as garbage
    assert relative_error(out, ref) < 1e-4


@pytest.mark.parametrize("num_splits", [2, 5])
def test_paged_extend_split_keys_match_reference(num_splits):
    gen = torch.Generator().manual_seed(10 + num_splits)
    case = make_case(segments=[[(60, 0), (23, 60), (17, 0)], [(40, 0)]], num_kv_heads=2, head_dim=32,
                     generator=gen)
    q, cu, positions = _queries(case, [17, 40], 4, 32, gen)
    kwargs = dict(q=q, cu_seqlens_q=cu, q_positions=positions, scale=32**-0.5, **case.layout())
    out = paged_extend(num_splits=num_splits, **kwargs)
    assert torch.isfinite(out).all()
    assert relative_error(out, paged_extend_ref(**kwargs)) < 1e-4


def test_extend_split_heuristic_only_splits_small_grids():
    assert extend_num_splits(num_programs=896, num_entries=1152, sm_count=132) == 1
    assert extend_num_splits(num_programs=4, num_entries=10, sm_count=132) == 1  # too few keys to split


@pytest.mark.parametrize(("num_programs", "num_entries", "best"), [
    (48, 1056, 8), (112, 1056, 7), (128, 1056, 2),  # 12q/2kv, 28q/4kv, 32q/8kv: 512 new over 16k
    (448, 1152, 2), (512, 1152, 2),  # 28q/4kv, 32q/8kv: 2048 new over 16k
])
def test_extend_split_heuristic_picks_the_fastest_measured_split(num_programs, num_entries, best):
    """The split counts that were fastest on an H100 (benchmarks/kernels.py --extend-splits)."""
    assert extend_num_splits(num_programs=num_programs, num_entries=num_entries, sm_count=132) == best


@pytest.mark.parametrize("pages_per_tile", [1, 2, 4])
def test_paged_extend_causal_tile_bounds_with_empty_entries(pages_per_tile):
    """Tiles before a query block skip the causal mask and tiles after it are not visited; the
    bounds come from counting table entries, so empty entries (page_lens 0) in the middle of a
    table and partly filled pages must not move them."""
    gen = torch.Generator().manual_seed(31 + pages_per_tile)
    case = make_case(segments=[[(40, 0), (7, 0), (90, 0)], [(23, 0), (64, 0)]], num_kv_heads=2,
                     head_dim=32, generator=gen, extra_entries=3)
    lens = case.page_lens.clone()
    _leave_entry_3_empty(case)
    assert int(case.page_lens.sum()) == int(lens.sum())
    _assert_matches_reference_in_splits(case, [70, 50], pages_per_tile, gen)


@pytest.mark.parametrize("pages_per_tile", [1, 2, 4])
def test_paged_extend_folds_shifted_pages_run_by_run(pages_per_tile):
    """Shifted pages are scored against the query rotated once per run of equal shifts: runs that
    end inside a tile, neighbouring segments with one shift (one run), an empty entry carrying a
    shift no page has inside a run (ignored by the run scan), and shifted pages under the causal
    mask (the new tokens' own)."""
    gen = torch.Generator().manual_seed(47 + pages_per_tile)
    segments = [[(20, 7), (21, 20), (35, 20), (9, 0), (40, 300)], [(17, 5), (50, 0), (30, 12)]]
    case = make_case(segments=segments, num_kv_heads=2, head_dim=32, generator=gen, extra_entries=2)
    _leave_entry_3_empty(case)
    case.page_shifts[0, 3] = 999  # a shift no page has
    _assert_matches_reference_in_splits(case, [40, 30], pages_per_tile, gen)


def _leave_entry_3_empty(case):
    """Move sequence 0's entries 3.. of every table one slot right, leaving entry 3 empty."""
    for table in (case.block_tables, case.page_starts, case.page_lens, case.page_shifts):
        if table is not None:
            table[0, 4:] = table[0, 3:-1].clone()
    case.page_lens[0, 3] = 0


def _assert_matches_reference_in_splits(case, new_tokens, pages_per_tile, gen):
    """4 query heads of head_dim 32 over the case, unsplit and in 3 key splits, vs the reference."""
    q, cu, positions = _queries(case, new_tokens, 4, 32, gen)
    kwargs = dict(q=q, cu_seqlens_q=cu, q_positions=positions, scale=32**-0.5, **case.layout())
    config = {"block_m": 16, "pages_per_tile": pages_per_tile, "num_warps": 4, "num_stages": 1}
    ref = paged_extend_ref(**kwargs)
    for splits in (1, 3):
        out = paged_extend(config=config, num_splits=splits, **kwargs)
        assert relative_error(out, ref) < 1e-4
