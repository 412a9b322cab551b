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

Kernel: one program per token rotates all its q and k heads. No host reads, so it is
graph-capturable.
"""

import torch

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
    tl.store(first, (x1 * cos - x2 * sin).to(x_ptr.dtype.element_ty), mask=ok)
    tl.store(first + HALF, (x2 * cos + x1 * sin).to(x_ptr.dtype.element_ty), mask=ok)


@triton.jit
def _rope_kernel(
    q_ptr, k_ptr, cos_ptr, sin_ptr,
    num_q_heads, num_kv_heads,
    stride_q_tok, stride_q_head, stride_k_tok, stride_k_head, stride_cos_tok, stride_sin_tok,
    HALF: tl.constexpr, BLOCK_Q_HEADS: tl.constexpr, BLOCK_KV_HEADS: tl.constexpr,
):
    token = tl.program_id(0).to(tl.int64)
    d = tl.arange(0, HALF)
    cos = tl.load(cos_ptr + token * stride_cos_tok + d).to(tl.float32)[None, :]
    sin = tl.load(sin_ptr + token * stride_sin_tok + d).to(tl.float32)[None, :]
    _rotate_heads(q_ptr + token * stride_q_tok, num_q_heads, stride_q_head, cos, sin,
                  HALF=HALF, BLOCK_HEADS=BLOCK_Q_HEADS)
    _rotate_heads(k_ptr + token * stride_k_tok, num_kv_heads, stride_k_head, cos, sin,
                  HALF=HALF, BLOCK_HEADS=BLOCK_KV_HEADS)


def apply_rope_inplace(*, q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> None:
    """Triton in-place RoPE of q and k; same contract as apply_rope_inplace_ref."""
    require_triton()
    tokens, num_q_heads, head_dim = q.shape
    assert k.dim() == 3 and k.shape[0] == tokens and k.shape[2] == head_dim and k.dtype == q.dtype
    assert head_dim >= 2 and head_dim & (head_dim - 1) == 0, "head_dim must be a power of two"
    assert q.stride(2) == 1 and k.stride(2) == 1, "head_dim must be contiguous"
    assert cos.shape == sin.shape == (tokens, head_dim) and cos.stride(1) == sin.stride(1) == 1
    if tokens == 0:
        return
    _rope_kernel[(tokens,)](
        q_ptr=q, k_ptr=k, cos_ptr=cos, sin_ptr=sin,
        num_q_heads=num_q_heads, num_kv_heads=k.shape[1],
        stride_q_tok=q.stride(0), stride_q_head=q.stride(1),
        stride_k_tok=k.stride(0), stride_k_head=k.stride(1),
        stride_cos_tok=cos.stride(0), stride_sin_tok=sin.stride(0),
        HALF=head_dim // 2, BLOCK_Q_HEADS=triton.next_power_of_2(num_q_heads),
        BLOCK_KV_HEADS=triton.next_power_of_2(k.shape[1]), num_warps=4,
    )


def apply_rope_inplace_ref(*, q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> None:
    for x in (q, k):
        half = x.shape[-1] // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        x.copy_(x * cos[:, None, :] + rotated * sin[:, None, :])
