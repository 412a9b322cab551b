"""Triton RMSNorm and residual-add + RMSNorm vs their plain-torch references (interpreter on CPU)."""

from __future__ import annotations

import pytest
import torch
from paged_cases import DEVICE

from codepager.kernels.rms_norm import add_rms_norm, add_rms_norm_ref, rms_norm, rms_norm_ref


def _weight(size: int, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    return (1.0 + 0.1 * torch.randn(size, generator=gen)).to(dtype).to(DEVICE)


@pytest.mark.parametrize("size", [64, 100])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_rms_norm_matches_reference(size, dtype):
    gen = torch.Generator().manual_seed(size)
    x = (3.0 * torch.randn(7, size, generator=gen)).to(dtype).to(DEVICE)
    weight = _weight(size, gen, dtype)
    out = rms_norm(x=x, weight=weight, eps=1e-6)
    ref = rms_norm_ref(x=x, weight=weight, eps=1e-6)
    assert out.shape == x.shape and out.dtype == dtype and out.is_contiguous()
    tolerance = 1e-5 if dtype == torch.float32 else 2e-3
    torch.testing.assert_close(out, ref, rtol=tolerance, atol=tolerance)
    assert not torch.allclose(out, x, atol=1e-2)  # it did normalise


def test_add_rms_norm_returns_the_exact_sum_and_its_norm():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(5, 96, generator=gen).half().to(DEVICE)
    residual = (10.0 * torch.randn(5, 96, generator=gen)).half().to(DEVICE)
    weight = _weight(96, gen, torch.float16)
    normed, summed = add_rms_norm(x=x, residual=residual, weight=weight, eps=1e-5)
    ref_normed, ref_summed = add_rms_norm_ref(x=x, residual=residual, weight=weight, eps=1e-5)
    assert torch.equal(summed, ref_summed)
    torch.testing.assert_close(normed, ref_normed, rtol=2e-3, atol=2e-3)
    assert torch.equal(residual, residual.clone())  # inputs are not written
    torch.testing.assert_close(normed, rms_norm_ref(x=x + residual, weight=weight, eps=1e-5),
                               rtol=2e-3, atol=2e-3)


def test_per_head_norm_of_a_strided_view():
    """Qwen3's q/k norm: rows are heads of a view into a fused qkv output."""
    gen = torch.Generator().manual_seed(2)
    qkv = torch.randn(6, (4 + 2 + 2) * 16, generator=gen).to(DEVICE)
    q = qkv[:, : 4 * 16].view(6, 4, 16)  # (T, H, D), token stride 128
    weight = _weight(16, gen, torch.float32)
    out = rms_norm(x=q, weight=weight, eps=1e-6)
    assert out.shape == (6, 4, 16) and out.is_contiguous()
    torch.testing.assert_close(out, rms_norm_ref(x=q, weight=weight, eps=1e-6), rtol=1e-5, atol=1e-5)


def test_strided_residual_and_empty_input():
    gen = torch.Generator().manual_seed(3)
    wide = torch.randn(4, 2, 48, generator=gen).to(DEVICE)
    x, residual = wide[:, 0], wide[:, 1]  # (T, N) with token stride 96
    weight = _weight(48, gen, torch.float32)
    normed, summed = add_rms_norm(x=x, residual=residual, weight=weight, eps=1e-6)
    ref_normed, ref_summed = add_rms_norm_ref(x=x, residual=residual, weight=weight, eps=1e-6)
    assert torch.equal(summed, ref_summed)
    torch.testing.assert_close(normed, ref_normed, rtol=1e-5, atol=1e-5)
    empty = torch.empty(0, 48, device=DEVICE)
    assert rms_norm(x=empty, weight=weight, eps=1e-6).shape == (0, 48)
