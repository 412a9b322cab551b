"""Triton SwiGLU on a fused gate/up output vs its plain-torch reference (interpreter on CPU)."""

from __future__ import annotations

import pytest
import torch
from paged_cases import DEVICE

from codepager.kernels import swiglu
from codepager.kernels.swiglu import silu_and_mul, silu_and_mul_ref


@pytest.mark.parametrize("inter", [64, 200])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_silu_and_mul_matches_reference(inter, dtype):
    gen = torch.Generator().manual_seed(inter)
    gate_up = (4.0 * torch.randn(5, 2 * inter, generator=gen)).to(dtype).to(DEVICE)
    out = silu_and_mul(gate_up=gate_up)
    ref = silu_and_mul_ref(gate_up=gate_up)
    assert out.shape == (5, inter) and out.dtype == dtype
    tolerance = 1e-5 if dtype == torch.float32 else 2e-3
    torch.testing.assert_close(out, ref, rtol=tolerance, atol=tolerance)
    gate, up = gate_up.float().chunk(2, dim=-1)
    torch.testing.assert_close(out.float(), gate * torch.sigmoid(gate) * up, rtol=1e-2, atol=1e-2)


def test_several_column_blocks_and_a_strided_input(monkeypatch):
    monkeypatch.setattr(swiglu, "BLOCK", 32)  # several programs per row, the last one partial
    gen = torch.Generator().manual_seed(0)
    wide = torch.randn(3, 2 * 100 + 7, generator=gen).to(DEVICE)
    gate_up = wide[:, : 2 * 100]  # token stride 207
    torch.testing.assert_close(silu_and_mul(gate_up=gate_up), silu_and_mul_ref(gate_up=gate_up),
                               rtol=1e-5, atol=1e-5)
