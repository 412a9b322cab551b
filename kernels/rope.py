"""Rotary position embedding applied in place to q and k in one kernel (rotate-half convention).

    x[:half] <- x[:half] * cos - x[half:] * sin
    x[half:] <- x[half:] * cos + x[:half] * sin
computed in float32 and rounded once to the dtype. cos and sin are per token, already multiplied by
the attention factor of the scaling variant (yarn), as codepager.model.rope.rope_cos_sin makes them.

Layouts:
    q:        [T, Hq, D]  (any token/head strides, D contiguous; e.g. a view into a fused qkv output)
    k:        [T, Hkv, D] (same)
    cos, sin: [T, D] with equal halves (the kernel reads the first half), D contiguous
Limits: D a power of two >= 2.

rope_and_store_kv also writes the rotated k and v into their page slots (store_kv's contract:
slot_mapping [T], -1 = skip), one kernel where the decoder would launch two.

Kernel: one program per token rotates all its q and k heads (and stores k, v). No host reads, so it
is graph-capturable.
"""

import torch

from codepager.kernels.pdl import pdl_launch_options, pdl_wait_then_release
from codepager.kernels.store_kv import check_store_inputs, store_kv_ref
from codepager.kernels.triton_import import require_triton, tl, triton


@triton.jit
def _rotate_heads(
    x_ptr, num_heads, stride_head, cos, sin,
    HALF: tl.constexpr, BLOCK_HEADS: tl.constexpr,
):
    heads = tl.arange(0, BLOCK_HEADS)
    d = tl.arange(0, HALF)
    ok = (heads < num_heads)[:, None]
    first = x_ptr + heads[:, None] * stride_head + d[None, :]
    x1 = tl.load(first, mask=ok, other=0.0).to(tl.float32)
    x2 = tl.load(first + HALF, mask=ok, other=0.0).to(tl.float32)
    lo = (x1 * cos - x2 * sin).to(x_ptr.dtype.element_ty)
    hi = (x2 * cos + x1 * sin).to(x_ptr.dtype.element_ty)
    tl.store(first, lo, mask=ok)
    tl.store(first + HALF, hi, mask=ok)
    return lo, hi


@triton.jit
def _store_heads(
    lo, hi, cache_ptr, slot, num_heads, stride_slot, stride_head,
    HALF: tl.constexpr, BLOCK_HEADS: tl.constexpr,
):
    heads = tl.arange(0, BLOCK_HEADS)
    d = tl.arange(0, HALF)
    ok = (heads < num_heads)[:, None]
    first = cache_ptr + slot * stride_slot + heads[:, None] * stride_head + d[None, :]
    tl.store(first, lo.to(cache_ptr.dtype.element_ty), mask=ok)
    tl.store(first + HALF, hi.to(cache_ptr.dtype.element_ty), mask=ok)


@triton.jit
def _rope_kernel(
    q_ptr, k_ptr, cos_ptr, sin_ptr, v_ptr, k_cache_ptr, v_cache_ptr, slot_ptr,
    num_q_heads, num_kv_heads,
    stride_q_tok, stride_q_head, stride_k_tok, stride_k_head, stride_cos_tok, stride_sin_tok,
    stride_v_tok, stride_v_head, stride_kc_slot, stride_kc_head, stride_vc_slot, stride_vc_head,
    HALF: tl.constexpr, BLOCK_Q_HEADS: tl.constexpr, BLOCK_KV_HEADS: tl.constexpr,
    STORE: tl.constexpr, PDL: tl.constexpr,
):
    pdl_wait_then_release(PDL)
    token = tl.program_id(0).to(tl.int64)
    d = tl.arange(0, HALF)
    cos = tl.load(cos_ptr + token * stride_cos_tok + d).to(tl.float32)[None, :]
    sin = tl.load(sin_ptr + token * stride_sin_tok + d).to(tl.float32)[None, :]
    _rotate_heads(q_ptr + token * stride_q_tok, num_q_heads, stride_q_head, cos, sin,
                  HALF=HALF, BLOCK_HEADS=BLOCK_Q_HEADS)
    k_lo, k_hi = _rotate_heads(k_ptr + token * stride_k_tok, num_kv_heads, stride_k_head, cos, sin,
                               HALF=HALF, BLOCK_HEADS=BLOCK_KV_HEADS)
    if STORE:
        slot = tl.load(slot_ptr + token).to(tl.int64)
        if slot >= 0:
            _store_heads(k_lo, k_hi, k_cache_ptr, slot, num_kv_heads, stride_kc_slot, stride_kc_head,
                         HALF=HALF, BLOCK_HEADS=BLOCK_KV_HEADS)
            heads = tl.arange(0, BLOCK_KV_HEADS)
            ok = (heads < num_kv_heads)[:, None]
            v_first = v_ptr + token * stride_v_tok + heads[:, None] * stride_v_head + d[None, :]
            v_lo = tl.load(v_first, mask=ok, other=0.0)
            v_hi = tl.load(v_first + HALF, mask=ok, other=0.0)
            _store_heads(v_lo, v_hi, v_cache_ptr, slot, num_kv_heads, stride_vc_slot, stride_vc_head,
                         HALF=HALF, BLOCK_HEADS=BLOCK_KV_HEADS)


def apply_rope_inplace(*, q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> None:
    """Triton in-place RoPE of q and k; same contract as apply_rope_inplace_ref."""
    _launch(q, k, cos, sin, None, pdl=False)


def rope_and_store_kv(
    *, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
    k_cache: torch.Tensor, v_cache: torch.Tensor, slot_mapping: torch.Tensor, pdl: bool = False,
) -> None:
    """Triton in-place RoPE of q and k, then k and v stored into their page slots; same contract as
    rope_and_store_kv_ref. pdl: launched as a programmatic dependent (codepager.kernels.pdl)."""
    assert v.dtype == k.dtype, "v must have k's dtype"
    check_store_inputs(key=k, value=v, k_cache=k_cache, v_cache=v_cache, slot_mapping=slot_mapping)
    _launch(q, k, cos, sin, (v, k_cache, v_cache, slot_mapping), pdl=pdl)


def _launch(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
            store: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None, *,
            pdl: bool) -> None:
    require_triton()
    tokens, num_q_heads, head_dim = q.shape
    assert k.dim() == 3 and k.shape[0] == tokens and k.shape[2] == head_dim and k.dtype == q.dtype
    assert head_dim >= 2 and head_dim & (head_dim - 1) == 0, "head_dim must be a power of two"
    assert q.stride(2) == 1 and k.stride(2) == 1, "head_dim must be contiguous"
    assert cos.shape == sin.shape == (tokens, head_dim) and cos.stride(1) == sin.stride(1) == 1
    if tokens == 0:
        return
    v, k_cache, v_cache, slots = store if store is not None else (k, k, k, cos)
    _rope_kernel[(tokens,)](
        q_ptr=q, k_ptr=k, cos_ptr=cos, sin_ptr=sin, v_ptr=v, k_cache_ptr=k_cache, v_cache_ptr=v_cache,
        slot_ptr=slots,
        num_q_heads=num_q_heads, num_kv_heads=k.shape[1],
        stride_q_tok=q.stride(0), stride_q_head=q.stride(1),
        stride_k_tok=k.stride(0), stride_k_head=k.stride(1),
        stride_cos_tok=cos.stride(0), stride_sin_tok=sin.stride(0),
        stride_v_tok=v.stride(0), stride_v_head=v.stride(1),
        stride_kc_slot=k_cache.stride(-3), stride_kc_head=k_cache.stride(-2),
        stride_vc_slot=v_cache.stride(-3), stride_vc_head=v_cache.stride(-2),
        HALF=head_dim // 2, BLOCK_Q_HEADS=triton.next_power_of_2(num_q_heads),
        BLOCK_KV_HEADS=triton.next_power_of_2(k.shape[1]), STORE=store is not None, PDL=pdl,
        num_warps=4, **pdl_launch_options(pdl),
    )


def apply_rope_inplace_ref(*, q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> None:
    for x in (q, k):
        half = x.shape[-1] // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        x.copy_(x * cos[:, None, :] + rotated * sin[:, None, :])


def rope_and_store_kv_ref(
    *, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
    k_cache: torch.Tensor, v_cache: torch.Tensor, slot_mapping: torch.Tensor, pdl: bool = False,
) -> None:
    del pdl  # a launch detail
    apply_rope_inplace_ref(q=q, k=k, cos=cos, sin=sin)
    store_kv_ref(key=k, value=v, k_cache=k_cache, v_cache=v_cache, slot_mapping=slot_mapping)
