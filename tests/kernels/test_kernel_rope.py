"""Triton in-place RoPE of q and k vs its plain-torch reference (interpreter on CPU)."""

from __future__ import annotations

import pytest
import torch
from paged_cases import DEVICE

from codepager.kernels.rope import (
    apply_rope_inplace,
    apply_rope_inplace_ref,
    rope_and_store_kv,
    rope_and_store_kv_ref,
)


def _cos_sin(positions: torch.Tensor, head_dim: int, factor: float, dtype: torch.dtype):
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = positions.float()[:, None] * inv_freq[None, :]  # (T, D/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (T, D)
    return (emb.cos() * factor).to(dtype).to(DEVICE), (emb.sin() * factor).to(dtype).to(DEVICE)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("factor", [1.0, 1.2])  # 1.2: a yarn attention factor
def test_rope_on_views_of_a_fused_qkv_output(dtype, factor):
    gen = torch.Generator().manual_seed(int(factor * 10))
    tokens, q_heads, kv_heads, head_dim = 9, 6, 2, 32
    qkv = torch.randn(tokens, (q_heads + 2 * kv_heads) * head_dim, generator=gen).to(dtype).to(DEVICE)
    q = qkv[:, : q_heads * head_dim].view(tokens, q_heads, head_dim)  # (T, Hq, D) strided
    k = qkv[:, q_heads * head_dim: (q_heads + kv_heads) * head_dim].view(tokens, kv_heads, head_dim)
    v_before = qkv[:, (q_heads + kv_heads) * head_dim:].clone()
    cos, sin = _cos_sin(torch.tensor([0, 1, 2, 7, 100, 4096, 5, 3, 65000]), head_dim, factor, dtype)
    expected_q, expected_k = q.clone(), k.clone()
    apply_rope_inplace_ref(q=expected_q, k=expected_k, cos=cos, sin=sin)
    apply_rope_inplace(q=q, k=k, cos=cos, sin=sin)
    tolerance = 1e-5 if dtype == torch.float32 else 4e-3
    torch.testing.assert_close(q, expected_q, rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(k, expected_k, rtol=tolerance, atol=tolerance)
    assert torch.equal(qkv[:, (q_heads + kv_heads) * head_dim:], v_before)  # v untouched


def test_rope_at_position_zero_is_the_attention_factor_and_rotation_keeps_norms():
    tokens, head_dim = 3, 16
    q = torch.randn(tokens, 3, head_dim).to(DEVICE)  # 3 heads: a partial block of 4
    k = torch.randn(tokens, 1, head_dim).to(DEVICE)
    q0, k0 = q.clone(), k.clone()
    cos, sin = _cos_sin(torch.tensor([0, 10, 321]), head_dim, 1.0, torch.float32)
    apply_rope_inplace(q=q, k=k, cos=cos, sin=sin)
    torch.testing.assert_close(q[0], q0[0])
    assert not torch.allclose(q[1:], q0[1:], atol=1e-3)
    torch.testing.assert_close(q.norm(dim=-1), q0.norm(dim=-1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(k.norm(dim=-1), k0.norm(dim=-1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_rope_and_store_kv_matches_rope_then_store(dtype):
    gen = torch.Generator().manual_seed(3)
    tokens, q_heads, kv_heads, head_dim, pages = 7, 6, 2, 32, 4
    qkv = torch.randn(tokens, (q_heads + 2 * kv_heads) * head_dim, generator=gen).to(dtype).to(DEVICE)
    split = [q_heads * head_dim, kv_heads * head_dim, kv_heads * head_dim]
    q, k, v = (x.view(tokens, -1, head_dim) for x in qkv.split(split, dim=-1))  # strided views
    cos, sin = _cos_sin(torch.tensor([0, 1, 17, 40, 41, 2048, 9]), head_dim, 1.0, dtype)
    slots = torch.tensor([3, -1, 17, 63, 0, -1, 40], dtype=torch.int64, device=DEVICE)  # -1: skipped
    caches = [torch.full((pages, 16, kv_heads, head_dim), 7.0, dtype=dtype, device=DEVICE) for _ in range(4)]
    expected_q, expected_k = q.clone(), k.clone()
    rope_and_store_kv_ref(q=expected_q, k=expected_k, v=v, cos=cos, sin=sin, k_cache=caches[0],
                          v_cache=caches[1], slot_mapping=slots)
    rope_and_store_kv(q=q, k=k, v=v, cos=cos, sin=sin, k_cache=caches[2], v_cache=caches[3],
                      slot_mapping=slots)
    tolerance = 1e-5 if dtype == torch.float32 else 4e-3
    torch.testing.assert_close(q, expected_q, rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(k, expected_k, rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(caches[2], caches[0], rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(caches[3], caches[1], rtol=0, atol=0)
    untouched = torch.ones(pages * 16, dtype=torch.bool)
    untouched[slots[slots >= 0].cpu()] = False
    assert bool((caches[2].flatten(0, 1)[untouched.to(DEVICE)] == 7.0).all())
