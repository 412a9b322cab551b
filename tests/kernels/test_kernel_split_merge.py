"""Split-K merge vs its plain-torch reference (interpreter on CPU; the real kernel on a GPU), and
the launch shapes its heuristic picks."""

from __future__ import annotations

import pytest
import torch
from paged_cases import DEVICE

from codepager.kernels.split_merge import MAX_TILE, merge_launch, merge_splits, merge_splits_ref


def partials(rows: int, heads: int, splits: int, head_dim: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    part_out = torch.randn(rows, heads, splits, head_dim, generator=gen)
    part_lse = torch.randn(rows, heads, splits, generator=gen) * 8
    return part_out.to(DEVICE), part_lse.to(DEVICE)


@pytest.mark.parametrize(
    ("rows", "heads", "splits", "head_dim", "launch"),
    [
        (1, 6, 128, 64, None),  # batch-1 decode: slices of head_dim
        (3, 2, 33, 32, None),  # splits not a power of two
        (2, 3, 5, 16, {"split_block": 2}),  # several passes over the splits
        (1, 2, 300, 32, None),  # more splits than one pass holds
        (70, 4, 2, 64, {"d_block": 64, "num_warps": 1}),
    ],
)
def test_merge_matches_reference(rows, heads, splits, head_dim, launch):
    part_out, part_lse = partials(rows, heads, splits, head_dim, seed=rows * 1000 + splits)
    part_lse[0, 0, splits // 2 :] = float("-inf")  # splits that saw no key
    out = torch.full((rows, heads, head_dim), float("nan"), device=DEVICE)
    ref = torch.empty_like(out)
    merge_splits(part_out=part_out, part_lse=part_lse, out=out, launch=launch)
    merge_splits_ref(part_out=part_out, part_lse=part_lse, out=ref)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_merge_writes_a_strided_bf16_output():
    part_out, part_lse = partials(2, 4, 9, 32, seed=3)
    wide = torch.zeros(2, 5, 32, dtype=torch.bfloat16, device=DEVICE)
    ref = torch.empty(2, 4, 32, dtype=torch.bfloat16, device=DEVICE)
    merge_splits(part_out=part_out, part_lse=part_lse, out=wide[:, 1:])
    merge_splits_ref(part_out=part_out, part_lse=part_lse, out=ref)
    torch.testing.assert_close(wide[:, 1:], ref)
    assert (wide[:, 0] == 0).all()


def test_reference_of_one_split_is_that_split():
    part_out, part_lse = partials(3, 2, 1, 16, seed=4)
    out = torch.empty(3, 2, 16, device=DEVICE)
    merge_splits_ref(part_out=part_out, part_lse=part_lse, out=out)
    torch.testing.assert_close(out, part_out[:, :, 0])


@pytest.mark.parametrize(("rows", "heads", "splits"), [(1, 12, 128), (8, 12, 33), (1, 32, 66), (64, 28, 2)])
def test_launch_reads_every_split_in_one_pass_within_the_tile_budget(rows, heads, splits):
    launch = merge_launch(rows=rows, heads=heads, num_splits=splits, head_dim=128)
    assert launch["split_block"] >= splits
    assert launch["split_block"] * launch["d_block"] <= MAX_TILE
    assert 128 % launch["d_block"] == 0


def test_few_rows_spread_over_head_dim_slices_and_many_rows_do_not():
    assert merge_launch(rows=1, heads=12, num_splits=128, head_dim=128)["d_block"] == 16
    assert merge_launch(rows=64, heads=28, num_splits=2, head_dim=128)["d_block"] == 128


def test_unknown_launch_keys_are_refused():
    part_out, part_lse = partials(1, 1, 2, 16, seed=5)
    with pytest.raises(AssertionError, match="merge launch keys"):
        merge_splits(part_out=part_out, part_lse=part_lse, out=torch.empty(1, 1, 16, device=DEVICE),
                     launch={"warps": 2})
