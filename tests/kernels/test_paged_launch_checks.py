"""The host-side pieces shared by the paged kernels' launchers: input checks and split sizes."""

from __future__ import annotations

import pytest
import torch
from paged_cases import make_case

from codepager.kernels.paged_layout import check_paged_inputs
from codepager.kernels.paged_tiles import even_splits


def shifted_case() -> tuple[torch.Tensor, dict]:
    gen = torch.Generator().manual_seed(0)
    case = make_case(segments=[[(20, 0), (9, 20)], [(5, 0)]], num_kv_heads=2, head_dim=32, device="cpu",
                     generator=gen)
    assert case.page_shifts is not None
    return torch.randn(2, 4, 32, generator=gen), case.layout()


def test_a_valid_layout_passes() -> None:
    q, layout = shifted_case()
    check_paged_inputs(q=q, num_seqs=2, **layout)


@pytest.mark.parametrize("broken", ["q_dtype", "head_dim", "gqa", "table_dtype", "no_inv_freq", "num_seqs"])
def test_each_broken_input_is_caught(broken: str) -> None:
    q, layout = shifted_case()
    num_seqs = 2
    if broken == "q_dtype":
        q = q.half()
    elif broken == "head_dim":
        q = torch.zeros(2, 4, 16)
    elif broken == "gqa":
        q = torch.zeros(2, 3, 32)
    elif broken == "table_dtype":
        layout["block_tables"] = layout["block_tables"].long()
    elif broken == "no_inv_freq":
        layout["rope_inv_freq"] = None
    else:
        num_seqs = 3
    with pytest.raises(AssertionError):
        check_paged_inputs(q=q, num_seqs=num_seqs, **layout)


@pytest.mark.parametrize("num_entries", [1, 5, 64, 65, 1000])
@pytest.mark.parametrize("wanted", [1, 3, 7, 64])
@pytest.mark.parametrize("tile", [1, 4])
def test_even_splits_cover_the_table_without_empty_splits(num_entries: int, wanted: int, tile: int) -> None:
    per_split, splits = even_splits(num_entries, wanted, tile)
    assert 1 <= splits <= wanted
    assert (splits - 1) * per_split < num_entries <= splits * per_split
    assert per_split % tile == 0 or per_split < tile  # whole tiles, unless a split is less than one


def test_splits_of_an_engine_sized_table_are_whole_tiles() -> None:
    # 17,892 tokens = 1,119 pages (+1 entry): 128 splits would walk 9 pages, 3 tiles of 4 with 1 in the last
    assert even_splits(1120, 128, 4) == (12, 94)
    assert even_splits(2048, 128, 4) == (16, 128)  # already whole: unchanged
