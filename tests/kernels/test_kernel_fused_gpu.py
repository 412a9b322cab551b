"""The fused elementwise kernels (RMSNorm, residual add + RMSNorm, SwiGLU, RoPE) on a real GPU:
bf16 at model-sized shapes against their references, and replay inside a CUDA graph."""

from __future__ import annotations

import pytest
import torch

from codepager.kernels.rms_norm import add_rms_norm, add_rms_norm_ref, rms_norm, rms_norm_ref
from codepager.kernels.rope import apply_rope_inplace, apply_rope_inplace_ref
from codepager.kernels.swiglu import silu_and_mul, silu_and_mul_ref

pytestmark = pytest.mark.gpu
BF16_ULPS = 2 * 2.0**-7  # two bf16 roundings, relative (an ulp is 2^-8 to 2^-7 of a value)


def _close(out: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype) -> None:
    tolerance = BF16_ULPS if dtype == torch.bfloat16 else 1e-5
    torch.testing.assert_close(out.float(), ref.float(), rtol=tolerance, atol=tolerance)


def _cos_sin(tokens: int, head_dim: int, factor: float, dtype: torch.dtype, gen: torch.Generator):
    positions = torch.randint(0, 32768, (tokens,), generator=gen)
    inv_freq = 1.0 / (1e6 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = positions.float()[:, None] * inv_freq[None, :]  # (T, D/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (T, D)
    return (emb.cos() * factor).to(dtype).cuda(), (emb.sin() * factor).to(dtype).cuda()


@pytest.mark.parametrize("hidden", [1536, 3584])
@pytest.mark.parametrize("tokens", [1, 7, 300])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_norms_at_model_shapes(hidden, tokens, dtype):
    gen = torch.Generator().manual_seed(hidden + tokens)
    x = torch.randn(tokens, hidden, generator=gen).to(dtype).cuda()
    residual = (8 * torch.randn(tokens, hidden, generator=gen)).to(dtype).cuda()
    weight = (1 + 0.1 * torch.randn(hidden, generator=gen)).to(dtype).cuda()
    _close(rms_norm(x=x, weight=weight, eps=1e-6), rms_norm_ref(x=x, weight=weight, eps=1e-6), dtype)
    normed, summed = add_rms_norm(x=x, residual=residual, weight=weight, eps=1e-6)
    ref_normed, ref_summed = add_rms_norm_ref(x=x, residual=residual, weight=weight, eps=1e-6)
    assert torch.equal(summed, ref_summed)
    _close(normed, ref_normed, dtype)


def test_per_head_norm_on_a_qkv_view_in_bf16():
    gen = torch.Generator().manual_seed(0)
    qkv = torch.randn(33, (16 + 2 * 8) * 128, generator=gen).bfloat16().cuda()
    q = qkv[:, : 16 * 128].view(33, 16, 128)  # (T, Hq, D) strided
    weight = (1 + 0.1 * torch.randn(128, generator=gen)).bfloat16().cuda()
    _close(rms_norm(x=q, weight=weight, eps=1e-6), rms_norm_ref(x=q, weight=weight, eps=1e-6), torch.bfloat16)


@pytest.mark.parametrize("inter", [8960, 18944])
@pytest.mark.parametrize("tokens", [1, 300])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_swiglu_at_model_shapes(inter, tokens, dtype):
    gen = torch.Generator().manual_seed(inter + tokens)
    gate_up = (3 * torch.randn(tokens, 2 * inter, generator=gen)).to(dtype).cuda()
    _close(silu_and_mul(gate_up=gate_up), silu_and_mul_ref(gate_up=gate_up), dtype)


@pytest.mark.parametrize("heads", [(12, 2), (28, 4)])
@pytest.mark.parametrize("tokens", [1, 5, 300])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_rope_at_model_shapes(heads, tokens, dtype):
    q_heads, kv_heads = heads
    gen = torch.Generator().manual_seed(q_heads + tokens)
    qkv = torch.randn(tokens, (q_heads + 2 * kv_heads) * 128, generator=gen).to(dtype).cuda()
    q = qkv[:, : q_heads * 128].view(tokens, q_heads, 128)  # (T, Hq, D)
    k = qkv[:, q_heads * 128: (q_heads + kv_heads) * 128].view(tokens, kv_heads, 128)  # (T, Hkv, D)
    v = qkv[:, (q_heads + kv_heads) * 128:].clone()
    cos, sin = _cos_sin(tokens, 128, 1.1, dtype, gen)
    q_ref, k_ref = q.clone(), k.clone()
    apply_rope_inplace_ref(q=q_ref, k=k_ref, cos=cos, sin=sin)
    apply_rope_inplace(q=q, k=k, cos=cos, sin=sin)
    # in bf16 the reference rounds three times and the kernel once: elements near zero after
    # cancellation differ relatively, so the error is measured against the largest value
    tolerance = 1e-2 if dtype == torch.bfloat16 else 1e-5
    assert _scaled_error(q, q_ref) < tolerance and _scaled_error(k, k_ref) < tolerance
    assert torch.equal(qkv[:, (q_heads + kv_heads) * 128:], v)


def _scaled_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out.float() - ref.float()).abs().max() / ref.float().abs().max()).item()


def test_the_three_kernels_replay_in_a_cuda_graph_with_new_data():
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(4, 1536, generator=gen).bfloat16().cuda()
    residual = torch.randn(4, 1536, generator=gen).bfloat16().cuda()
    weight = (1 + 0.1 * torch.randn(1536, generator=gen)).bfloat16().cuda()
    gate_up = torch.randn(4, 2 * 8960, generator=gen).bfloat16().cuda()
    q = torch.randn(4, 12, 128, generator=gen).bfloat16().cuda()
    k = torch.randn(4, 2, 128, generator=gen).bfloat16().cuda()
    cos, sin = _cos_sin(4, 128, 1.0, torch.bfloat16, gen)

    def step():
        rotated_q, rotated_k = q.clone(), k.clone()
        apply_rope_inplace(q=rotated_q, k=rotated_k, cos=cos, sin=sin)
        normed, summed = add_rms_norm(x=x, residual=residual, weight=weight, eps=1e-6)
        return normed, summed, silu_and_mul(gate_up=gate_up), rotated_q, rotated_k

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        step()  # compile outside capture
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = step()
    for t in (x, residual, gate_up, q, k):
        t.copy_(torch.randn(t.shape, generator=gen).bfloat16().cuda())
    graph.replay()
    torch.cuda.synchronize()
    expected = step()
    for got, want in zip(outputs, expected, strict=True):
        assert torch.equal(got, want)
