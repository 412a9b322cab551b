"""The decode variant that benchmarks/decode_warp_tiles.py times (each warp folds its own tile)
against the shipped decode's plain-torch reference, so that its timings in docs/benchmarks.md are
timings of a correct kernel (interpreter on CPU, fp32)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch
from paged_cases import DEVICE, make_case, relative_error

from codepager.kernels.paged_decode import paged_decode_ref

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def warp_tiles():
    """benchmarks/decode_warp_tiles.py, imported as the benchmark imports it (its own folder first on
    sys.path, where `kernels` is benchmarks/kernels.py), then the path and that name restored."""
    saved = sys.modules.pop("kernels", None)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("decode_warp_tiles")
    finally:
        sys.path.remove(str(BENCHMARKS))
        sys.modules.pop("kernels", None)
        sys.modules.pop("decode_warp_tiles", None)
        if saved is not None:
            sys.modules["kernels"] = saved


@pytest.mark.skipif(DEVICE == "cuda" and torch.cuda.get_device_capability()[0] < 9,
                    reason="programmatic dependent launch needs a Hopper GPU")
@pytest.mark.parametrize("num_warps", [2, 4])
@pytest.mark.parametrize("ppt", [1, 2])
def test_warp_tiles_decode_matches_the_reference(warp_tiles, ppt, num_warps):
    gen = torch.Generator().manual_seed(ppt * num_warps)
    # rows shorter than one warp's tiles, partly filled pages, a warp that sees no key in a split
    case = make_case(segments=[[(150, 0)], [(5, 0), (32, 0)], [(16, 0)]], num_kv_heads=2, head_dim=32,
                     generator=gen)
    assert case.page_shifts is None  # the variant takes unshifted pages
    case.block_tables.clamp_(min=0)  # and full tables (the benchmark's are)
    q = torch.randn(3, 12, 32, generator=gen).to(DEVICE)
    ref = paged_decode_ref(q=q, scale=32**-0.5, **case.layout())
    taken = ("k_cache", "v_cache", "block_tables", "page_lens")
    layout = {k: v for k, v in case.layout().items() if k in taken}
    for num_splits in (1, 3):
        out = warp_tiles.warp_tiles_decode(q=q, scale=32**-0.5, num_splits=num_splits, ppt=ppt,
                                           num_warps=num_warps, **layout)
        # fp32 tl.dot runs as tf32 on a GPU
        assert relative_error(out, ref) < (5e-3 if DEVICE == "cuda" else 1e-4)
