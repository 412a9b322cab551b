"""The fused decode projection (norm -> linear -> SwiGLU) vs its plain-torch reference (interpreter
on CPU, the real kernel on a GPU; PDL launches only on a GPU that has it)."""

from __future__ import annotations

import pytest
import torch
from paged_cases import DEVICE

from codepager.kernels import decode_linear as decode_linear_module
from codepager.kernels.decode_linear import (
    MAX_M,
    DecodeLinearConfig,
    RopeStore,
    decode_linear,
    decode_linear_ref,
)
from codepager.kernels.paged_layout import PAGE_SIZE
from codepager.kernels.pdl import pdl_supported
from codepager.model.rope import rope_cos_sin


def _inputs(rows: int, n: int, k: int, dtype: torch.dtype, seed: int, *, bias: bool, norm: bool,
            residual: bool) -> dict:
    gen = torch.Generator().manual_seed(seed)
    make = lambda *shape, scale=1.0: (scale * torch.randn(*shape, generator=gen)).to(dtype).to(DEVICE)  # noqa: E731
    inputs = dict(x=make(rows, k), weight=make(n, k, scale=k**-0.5))
    if bias:
        inputs["bias"] = make(n)
    if norm:
        inputs["norm_weight"] = (1.0 + 0.1 * torch.randn(k, generator=gen)).to(dtype).to(DEVICE)
        inputs["eps"] = 1e-6
    if residual:
        inputs["residual"] = make(rows, k, scale=3.0)
    return inputs


def _check(inputs: dict, dtype: torch.dtype, **options) -> None:
    out, summed = decode_linear(**inputs, **options)
    ref, ref_summed = decode_linear_ref(**inputs, **options)
    tolerance = 1e-4 if dtype == torch.float32 else 1e-2
    assert out.shape == ref.shape and out.dtype == dtype
    torch.testing.assert_close(out, ref, rtol=tolerance, atol=tolerance)
    if ref_summed is None:
        assert summed is None
    else:
        torch.testing.assert_close(summed, ref_summed, rtol=0, atol=0)


@pytest.mark.parametrize("rows", [1, 3, MAX_M])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_plain_projection_with_and_without_bias(rows, dtype):
    for bias in (False, True):
        _check(_inputs(rows, 40, 96, dtype, rows, bias=bias, norm=False, residual=False), dtype)


@pytest.mark.parametrize("rows", [1, 2])
@pytest.mark.parametrize("residual", [False, True])
def test_norm_before_the_projection(rows, residual):
    inputs = _inputs(rows, 24, 80, torch.float32, 7, bias=True, norm=True, residual=residual)
    _check(inputs, torch.float32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_swiglu_after_a_normed_gate_up(dtype):
    inputs = _inputs(2, 2 * 36, 64, dtype, 3, bias=False, norm=True, residual=True)
    _check(inputs, dtype, swiglu=True)
    inputs = _inputs(1, 2 * 20, 48, dtype, 4, bias=True, norm=False, residual=False)
    _check(inputs, dtype, swiglu=True)


@pytest.mark.parametrize("swiglu", [False, True])
def test_one_program_streams_every_column_block(swiglu, monkeypatch):
    # one SM: the streaming kernel's single program walks all column blocks (the last partial)
    monkeypatch.setattr(decode_linear_module, "device_sm_count", lambda device: 1)
    config = DecodeLinearConfig(block_n=4, block_k=128, num_warps=2, num_stages=1, programs_per_sm=1)
    inputs = _inputs(2, 2 * 22 if swiglu else 22, 48, torch.float32, 9, bias=True, norm=True, residual=True)
    _check(inputs, torch.float32, swiglu=swiglu, config=config)


ROPE_CONFIGS = {
    "streamed": DecodeLinearConfig(block_n=4, block_k=128, num_warps=2, num_stages=1, programs_per_sm=1),
    "tiled": DecodeLinearConfig(block_n=8, block_k=16, num_warps=2, num_stages=1),
}


@pytest.mark.parametrize("rows", [1, 2])
@pytest.mark.parametrize("kernel", sorted(ROPE_CONFIGS))
def test_rope_epilogue_rotates_q_and_k_and_stores_k_and_v(rows, kernel, monkeypatch):
    monkeypatch.setattr(decode_linear_module, "device_sm_count", lambda device: 2)  # programs loop
    q_heads, kv_heads, head_dim = 4, 2, 16
    inputs = _inputs(rows, (q_heads + 2 * kv_heads) * head_dim, 48, torch.float32, 21 + rows, bias=True,
                     norm=True, residual=True)
    gen = torch.Generator().manual_seed(3)
    positions = torch.tensor([37, 5][:rows])
    cos, sin = rope_cos_sin(positions, 1e4 ** -(torch.arange(0, head_dim, 2) / head_dim), 1.0, torch.float32)
    caches = [torch.randn(4, PAGE_SIZE, kv_heads, head_dim, generator=gen).to(DEVICE) for _ in range(2)]
    slots = torch.tensor([37, -1][:rows], device=DEVICE)  # the second row is a recomputed token: no store

    def run(fn):
        k_cache, v_cache = (c.clone() for c in caches)
        rope = RopeStore(cos=cos.to(DEVICE), sin=sin.to(DEVICE), k_cache=k_cache, v_cache=v_cache,
                         slot_mapping=slots, num_q_heads=q_heads, num_kv_heads=kv_heads)
        out, summed = fn(**inputs, rope=rope, config=ROPE_CONFIGS[kernel])
        return out, summed, k_cache, v_cache

    got, want = run(decode_linear), run(decode_linear_ref)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    k_slots, old_slots = got[2].flatten(0, 1), caches[0].flatten(0, 1)  # (pages * 16, Hkv, D)
    assert not torch.equal(k_slots[37], old_slots[37]) and torch.equal(k_slots[:37], old_slots[:37])


def test_long_reduction_in_many_tiles_with_a_partial_last_tile():
    # K = 200 in tiles of 32 (the last one partial), N = 10 in column blocks of 4 (the last partial)
    inputs = _inputs(1, 10, 200, torch.float32, 11, bias=False, norm=True, residual=True)
    _check(inputs, torch.float32, config=DecodeLinearConfig(block_n=4, block_k=32, num_warps=2, num_stages=1))


@pytest.mark.skipif(not torch.cuda.is_available() or not pdl_supported(torch.device("cuda")),
                    reason="programmatic dependent launch needs a Hopper-class GPU")
def test_pdl_chain_matches_the_reference_chain():
    dtype = torch.bfloat16
    inputs = _inputs(1, 256, 512, dtype, 5, bias=True, norm=True, residual=True)
    out, summed = decode_linear(**inputs, pdl=True)
    out, _ = decode_linear(x=out, weight=inputs["weight"][:, :256].contiguous(), pdl=True)
    ref, ref_summed = decode_linear_ref(**inputs)
    ref, _ = decode_linear_ref(x=ref, weight=inputs["weight"][:, :256].contiguous())
    torch.testing.assert_close(summed, ref_summed, rtol=0, atol=0)
    torch.testing.assert_close(out, ref, rtol=2e-2, atol=2e-2)


def test_bad_inputs_are_refused():
    x = torch.randn(MAX_M + 1, 32)
    with pytest.raises(AssertionError, match="rows"):
        decode_linear(x=x, weight=torch.randn(16, 32))
    with pytest.raises(AssertionError, match="does not match"):
        decode_linear(x=x[:1], weight=torch.randn(16, 48))
    with pytest.raises(AssertionError, match="residual"):
        decode_linear(x=x[:1], weight=torch.randn(16, 32), residual=x[:1])
    with pytest.raises(ValueError, match="power of two"):
        DecodeLinearConfig(block_n=6, block_k=32, num_warps=4, num_stages=1)
