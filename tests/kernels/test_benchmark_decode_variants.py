"""The decode variants that benchmarks/decode_variants.py (TMA page loads, the merge inside the split
kernel) and benchmarks/decode_warp_tiles.py (one tile per warp) time, against the shipped decode's
plain-torch reference, so that their timings in docs/benchmarks.md are timings of correct kernels
(interpreter on CPU, fp32)."""

from __future__ import annotations

import pytest
import torch
from benchmark_modules import imported_benchmark
from paged_cases import DEVICE, make_case, relative_error

from codepager.kernels.paged_decode import paged_decode_ref

pytestmark = pytest.mark.skipif(DEVICE == "cuda" and torch.cuda.get_device_capability()[0] < 9,
                                reason="TMA and programmatic dependent launch need a Hopper GPU")


@pytest.fixture(scope="module")
def variants():
    with imported_benchmark("decode_variants") as module:
        yield module


@pytest.fixture(scope="module")
def warp_tiles():
    with imported_benchmark("decode_warp_tiles") as module:
        yield module


def check_variant(decode, seed: int, **options) -> None:
    """decode(q=..., scale=..., num_splits=..., **options, **layout) against the reference at 1 and 3
    splits (the second call over the same buffers: a fused merge's counters must be re-armed)."""
    gen = torch.Generator().manual_seed(seed)
    # rows shorter than a tile, partly filled pages, splits (and warps) that see no key
    case = make_case(segments=[[(150, 0)], [(5, 0), (32, 0)], [(16, 0)]], num_kv_heads=2, head_dim=32,
                     generator=gen)
    assert case.page_shifts is None  # the variants take unshifted pages
    case.block_tables.clamp_(min=0)  # and full tables (the benchmark's are)
    q = torch.randn(3, 12, 32, generator=gen).to(DEVICE)
    ref = paged_decode_ref(q=q, scale=32**-0.5, **case.layout())
    taken = ("k_cache", "v_cache", "block_tables", "page_lens")
    layout = {k: v for k, v in case.layout().items() if k in taken}
    for num_splits in (1, 3):
        out = decode(q=q, scale=32**-0.5, num_splits=num_splits, **options, **layout)
        # fp32 tl.dot runs as tf32 on a GPU
        assert relative_error(out, ref) < (5e-3 if DEVICE == "cuda" else 1e-4)


@pytest.mark.parametrize("ppt", [1, 2])
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("tma", [False, True])
def test_decode_variants_match_the_reference(variants, tma, fused, ppt):
    check_variant(variants.variant_decode, 7, ppt=ppt, tma=tma, fused=fused)


@pytest.mark.parametrize("num_warps", [2, 4])
@pytest.mark.parametrize("ppt", [1, 2])
def test_warp_tiles_decode_matches_the_reference(warp_tiles, ppt, num_warps):
    check_variant(warp_tiles.warp_tiles_decode, ppt * num_warps, ppt=ppt, num_warps=num_warps)
