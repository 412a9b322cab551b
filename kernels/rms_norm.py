"""RMSNorm, optionally fused with the residual add before it, in one pass over each row.

Computes what the Hugging Face models compute in the input dtype, in one kernel instead of ~7:
    summed = x + residual                                   (rounded to the dtype: the new residual)
    normed = weight * (s * rsqrt(mean(s^2) + eps)).to(dtype)   with s = summed in float32

Layouts:
    x, residual: [T, N] or [T, H, N] (any token/head strides, the last dimension contiguous)
    weight:      [N] contiguous, same dtype as x
    returns normed (and summed for add_rms_norm) contiguous, same shape and dtype as x

Kernel: one program per row (token, head) holds the whole row (N <= 65536). No host reads, so it is
graph-capturable.
"""

import torch

from codepager.kernels.triton_import import require_triton, tl, triton

MAX_ROW = 65536


@triton.jit
def _rms_norm_kernel(
    x_ptr, residual_ptr, weight_ptr, out_ptr, summed_ptr,
    size, num_heads, eps,
    stride_x_tok, stride_x_head, stride_r_tok, stride_r_head,
    HAS_RESIDUAL: tl.constexpr, BLOCK: tl.constexpr,
):
    token = tl.program_id(0).to(tl.int64)
    head = tl.program_id(1)
    cols = tl.arange(0, BLOCK)
    ok = cols < size
    row = (token * num_heads + head) * size  # output rows are contiguous
    x = tl.load(x_ptr + token * stride_x_tok + head * stride_x_head + cols, mask=ok, other=0.0)
    if HAS_RESIDUAL:
        r = tl.load(residual_ptr + token * stride_r_tok + head * stride_r_head + cols, mask=ok, other=0.0)
        x = (x.to(tl.float32) + r.to(tl.float32)).to(out_ptr.dtype.element_ty)
        tl.store(summed_ptr + row + cols, x, mask=ok)
    xf = x.to(tl.float32)
    inv_rms = tl.rsqrt(tl.sum(xf * xf, axis=0) / size + eps)
    normed = (xf * inv_rms).to(out_ptr.dtype.element_ty).to(tl.float32)
    w = tl.load(weight_ptr + cols, mask=ok, other=0.0).to(tl.float32)
    tl.store(out_ptr + row + cols, (w * normed).to(out_ptr.dtype.element_ty), mask=ok)


def _token_head_strides(t: torch.Tensor) -> tuple[int, int, int]:
    """(heads, token stride, head stride) of a [T, N] or [T, H, N] tensor."""
    if t.dim() == 2:
        return 1, t.stride(0), 0
    return t.shape[1], t.stride(0), t.stride(1)


def _launch(x: torch.Tensor, residual: torch.Tensor | None, weight: torch.Tensor, eps: float,
            ) -> tuple[torch.Tensor, torch.Tensor | None]:
    require_triton()
    assert x.dim() in (2, 3), "x must be [T, N] or [T, H, N]"
    size = x.shape[-1]
    assert x.stride(-1) == 1, "the normalised dimension must be contiguous"
    assert weight.shape == (size,) and weight.is_contiguous() and weight.dtype == x.dtype
    assert size <= MAX_ROW, f"rows longer than {MAX_ROW} are not supported"
    num_heads, stride_x_tok, stride_x_head = _token_head_strides(x)
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    summed = None
    stride_r_tok = stride_r_head = 0
    if residual is not None:
        assert residual.shape == x.shape and residual.dtype == x.dtype and residual.stride(-1) == 1
        _, stride_r_tok, stride_r_head = _token_head_strides(residual)
        summed = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    if x.numel() == 0:
        return out, summed
    block = triton.next_power_of_2(size)
    _rms_norm_kernel[(x.shape[0], num_heads)](
        x_ptr=x, residual_ptr=x if residual is None else residual, weight_ptr=weight,
        out_ptr=out, summed_ptr=out if summed is None else summed,
        size=size, num_heads=num_heads, eps=eps,
        stride_x_tok=stride_x_tok, stride_x_head=stride_x_head,
        stride_r_tok=stride_r_tok, stride_r_head=stride_r_head,
        HAS_RESIDUAL=residual is not None, BLOCK=block, num_warps=min(max(block // 256, 1), 8),
    )
    return out, summed


def rms_norm(*, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Triton RMSNorm of the last dimension; same contract as rms_norm_ref."""
    return _launch(x, None, weight, eps)[0]


def add_rms_norm(
    *, x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Triton (normed, summed) with summed = x + residual; same contract as add_rms_norm_ref."""
    out, summed = _launch(x, residual, weight, eps)
    assert summed is not None
    return out, summed


def rms_norm_ref(*, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    xf = x.to(torch.float32)
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * xf.to(x.dtype)


def add_rms_norm_ref(
    *, x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    summed = residual + x
    return rms_norm_ref(x=summed, weight=weight, eps=eps), summed
