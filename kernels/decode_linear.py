"""Decode projection: out = epilogue(prologue(x) @ weight.T) for a few token rows, one kernel.

A decode step streams every projection weight once for a handful of rows; at 1.5B a layer was
eleven launches whose ramps and tails cost more than its weights take to stream. These kernels fold
what sits between the projections into them, so a layer is four projections and attention, chained
by programmatic dependent launch (codepager.kernels.pdl): each program loads its first weights
before waiting for the kernel before it.

    prologue (norm_weight given):  s = x (+ residual, rounded: the new residual stream)
                                   x = norm_weight * (s * rsqrt(mean(s^2) + eps)).to(dtype)
    product:                       y = x @ weight.T (+ bias), float32 accumulation
    epilogue (swiglu):             weight is [2I, K] (gate rows, then up rows): out = silu(g) * u
    epilogue (rope):               weight is q, k, v heads: q and k rotated, k and v stored to
                                   their cache slots (RopeStore; rope_and_store_kv's contract)
rounded as the unfused references round (codepager.kernels.rms_norm, swiglu, rope).

Layouts:
    x:           [M, K], 1 <= M <= MAX_M, last dimension contiguous
    residual:    [M, K] like x, optional (only with norm_weight)
    norm_weight: [K] contiguous, optional
    weight:      [N, K] row-major (nn.Linear), contiguous; bias [N] optional
    returns (out [M, N] or [M, N/2] with swiglu, summed [M, K] or None), contiguous, x's dtype

Kernels (deterministic, no split-K, one launch; multiply by broadcast and sum). Streaming, when a
row's K fits one tile: x is read and normed once per program, and a grid of a few programs per SM
streams column blocks, the next block's weights in flight. Tiled otherwise (down_proj): one program
per column block walks K in pipelined tiles, after summing its rows' squares for a norm. Program 0
writes the summed residual. No host reads, so calls can be captured in a CUDA graph.
"""

from dataclasses import dataclass

import torch

from codepager.kernels.decode_linear_config import (
    DecodeLinearConfig,
    decode_linear_config,
)
from codepager.kernels.decode_linear_tiles import (
    PLAIN,
    ROPE,
    SWIGLU,
    apply_norm,
    block_columns,
    finish_block,
    load_rows,
    load_summed,
    load_x,
    product,
    row_inv_rms,
)
from codepager.kernels.paged_tiles import device_sm_count
from codepager.kernels.pdl import pdl_launch_options, pdl_wait_then_release
from codepager.kernels.rms_norm import add_rms_norm_ref, rms_norm_ref
from codepager.kernels.rope import rope_and_store_kv_ref
from codepager.kernels.store_kv import check_store_inputs
from codepager.kernels.swiglu import silu_and_mul_ref
from codepager.kernels.triton_import import require_triton, tl, triton

MAX_M = 4  # rows multiply by broadcast: more rows would need tl.dot tiles (cuBLAS serves those)


@triton.jit
def _decode_linear_stream_kernel(
    x_ptr, res_ptr, norm_w_ptr, summed_ptr, w_ptr, bias_ptr, out_ptr,
    cos_ptr, sin_ptr, slot_ptr, kc_ptr, vc_ptr,
    M, N_OUT, K, eps, stride_xm, stride_rm, stride_wn, stride_om, num_blocks,
    stride_cos, stride_kc_slot, stride_kc_head, stride_vc_slot, stride_vc_head, num_q_heads, num_kv_heads,
    NORM: tl.constexpr, HAS_RES: tl.constexpr, HAS_BIAS: tl.constexpr, EPILOGUE: tl.constexpr,
    PDL: tl.constexpr, HALF: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    """K in one tile: x is read and normed once, then each program streams column blocks
    pid, pid + programs, ... with the next block's weights in flight while one is multiplied; the
    first block loads before the wait for the kernel before."""
    pid = tl.program_id(0)
    step = tl.num_programs(0)
    rows = tl.arange(0, BLOCK_M)
    row_ok = rows < M
    k = tl.arange(0, BLOCK_K)
    k_ok = k < K
    first, second, ok, head = block_columns(pid, N_OUT, EPILOGUE, BLOCK_N, HALF)
    w1, w2 = load_rows(w_ptr, first, second, ok, k, k_ok, stride_wn, EPILOGUE)  # before the wait
    pdl_wait_then_release(PDL)

    x = load_summed(x_ptr, res_ptr, rows, row_ok, k, k_ok, stride_xm, stride_rm, HAS_RES)  # HAS_RES: NORM too
    if NORM:
        if HAS_RES:
            tl.store(summed_ptr + rows[:, None] * K + k[None, :], x,
                     mask=(rows < tl.where(pid == 0, M, 0))[:, None] & k_ok[None, :])
        xf = x.to(tl.float32)
        x = apply_norm(x, tl.rsqrt(tl.sum(xf * xf, axis=1) / K + eps), norm_w_ptr, k, k_ok)

    for block in range(pid, num_blocks, step):
        first, second, ok, head = block_columns(block, N_OUT, EPILOGUE, BLOCK_N, HALF)
        next_first, next_second, next_ok, _ = block_columns(block + step, N_OUT, EPILOGUE, BLOCK_N, HALF)
        next_w1, next_w2 = load_rows(w_ptr, next_first, next_second, next_ok, k, k_ok, stride_wn, EPILOGUE)
        acc1 = product(x, w1)
        acc2 = acc1
        if EPILOGUE != PLAIN:
            acc2 = product(x, w2)
        finish_block(acc1, acc2, rows, row_ok, first, second, ok, head, bias_ptr, out_ptr, stride_om,
                     cos_ptr, sin_ptr, slot_ptr, kc_ptr, vc_ptr,
                     stride_cos, stride_kc_slot, stride_kc_head, stride_vc_slot, stride_vc_head,
                     num_q_heads, num_kv_heads, HAS_BIAS, EPILOGUE, HALF)
        w1, w2 = next_w1, next_w2


@triton.jit
def _decode_linear_kernel(
    x_ptr, res_ptr, norm_w_ptr, summed_ptr, w_ptr, bias_ptr, out_ptr,
    cos_ptr, sin_ptr, slot_ptr, kc_ptr, vc_ptr,
    M, N_OUT, K, eps, stride_xm, stride_rm, stride_wn, stride_om,
    stride_cos, stride_kc_slot, stride_kc_head, stride_vc_slot, stride_vc_head, num_q_heads, num_kv_heads,
    NORM: tl.constexpr, HAS_RES: tl.constexpr, HAS_BIAS: tl.constexpr, EPILOGUE: tl.constexpr,
    PDL: tl.constexpr, HALF: tl.constexpr, EVEN_K: tl.constexpr, NUM_STAGES: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    """One program per column block walks K in BLOCK_K tiles (software-pipelined); with a norm it
    first sums the squares of its rows; the first tile loads before the wait."""
    pid = tl.program_id(0)
    rows = tl.arange(0, BLOCK_M)
    row_ok = rows < M
    first, second, ok, head = block_columns(pid, N_OUT, EPILOGUE, BLOCK_N, HALF)
    k = tl.arange(0, BLOCK_K)
    k_ok = k < K
    if EVEN_K:
        k_ok = k_ok | True
    w1, w2 = load_rows(w_ptr, first, second, ok, k, k_ok, stride_wn, EPILOGUE)  # before the wait
    pdl_wait_then_release(PDL)

    inv_rms = tl.full([BLOCK_M], 1.0, dtype=tl.float32)
    if NORM:
        inv_rms = row_inv_rms(x_ptr, res_ptr, summed_ptr, rows, row_ok, K, eps, stride_xm, stride_rm,
                              tl.where(pid == 0, M, 0), HAS_RES, BLOCK_M, BLOCK_K)
    x = load_x(x_ptr, res_ptr, norm_w_ptr, rows, row_ok, k, k_ok, inv_rms, stride_xm, stride_rm,
               NORM, HAS_RES)
    acc1 = product(x, w1)
    acc2 = acc1
    if EPILOGUE != PLAIN:
        acc2 = product(x, w2)
    for k0 in tl.range(BLOCK_K, K, BLOCK_K, num_stages=NUM_STAGES):
        k = k0 + tl.arange(0, BLOCK_K)
        k_ok = k < K
        if EVEN_K:
            k_ok = k_ok | True
        x = load_x(x_ptr, res_ptr, norm_w_ptr, rows, row_ok, k, k_ok, inv_rms, stride_xm, stride_rm,
                   NORM, HAS_RES)
        w1, w2 = load_rows(w_ptr, first, second, ok, k, k_ok, stride_wn, EPILOGUE)
        acc1 += product(x, w1)
        if EPILOGUE != PLAIN:
            acc2 += product(x, w2)
    finish_block(acc1, acc2, rows, row_ok, first, second, ok, head, bias_ptr, out_ptr, stride_om,
                 cos_ptr, sin_ptr, slot_ptr, kc_ptr, vc_ptr,
                 stride_cos, stride_kc_slot, stride_kc_head, stride_vc_slot, stride_vc_head,
                 num_q_heads, num_kv_heads, HAS_BIAS, EPILOGUE, HALF)


@dataclass(frozen=True)
class RopeStore:
    """RoPE and the K/V store as decode_linear's epilogue on a fused q/k/v projection (rows of q
    heads, then k heads, then v heads, head_dim each): q and k rotated in the output, k and v
    written to their cache slots, as codepager.kernels.rope.rope_and_store_kv does.
    cos, sin [M, D] per row; k_cache, v_cache [pages, 16, Hkv, D]; slot_mapping [M] (-1: skip)."""

    cos: torch.Tensor
    sin: torch.Tensor
    k_cache: torch.Tensor
    v_cache: torch.Tensor
    slot_mapping: torch.Tensor
    num_q_heads: int
    num_kv_heads: int

    def split_heads(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Views q [M, Hq, D], k [M, Hkv, D], v [M, Hkv, D] of a projection output [M, N]."""
        head_dim = self.k_cache.shape[-1]
        assert out.shape[1] == (self.num_q_heads + 2 * self.num_kv_heads) * head_dim, (
            "weight rows must be the q, k and v heads")
        return out.view(out.shape[0], -1, head_dim).split(
            [self.num_q_heads, self.num_kv_heads, self.num_kv_heads], dim=1)

    def check(self, out: torch.Tensor) -> None:
        _q, k, v = self.split_heads(out)
        assert self.cos.shape == self.sin.shape == (out.shape[0], k.shape[-1]), "cos and sin must be [M, D]"
        assert self.cos.stride() == self.sin.stride() and self.cos.stride(1) == 1
        check_store_inputs(key=k, value=v, k_cache=self.k_cache, v_cache=self.v_cache,
                           slot_mapping=self.slot_mapping)


def _check(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, norm_weight: torch.Tensor | None,
           residual: torch.Tensor | None, swiglu: bool) -> None:
    assert x.dim() == 2 and weight.dim() == 2, "x must be [M, K] and weight [N, K]"
    assert 1 <= x.shape[0] <= MAX_M, f"decode_linear takes 1 to {MAX_M} rows, got {x.shape[0]}"
    assert weight.shape[1] == x.shape[1], f"weight {tuple(weight.shape)} does not match x {tuple(x.shape)}"
    assert weight.dtype == x.dtype and x.device == weight.device, "x and weight must share dtype and device"
    assert x.stride(1) == 1 and weight.is_contiguous(), "x rows and weight must be contiguous"
    assert not swiglu or weight.shape[0] % 2 == 0, "swiglu needs gate and up halves of equal size"
    if bias is not None:
        assert bias.shape == weight.shape[:1] and bias.dtype == x.dtype and bias.is_contiguous(), (
            "bias must be [N]")
    if norm_weight is not None:
        assert norm_weight.shape == x.shape[1:] and norm_weight.dtype == x.dtype, "norm_weight must be [K]"
        assert norm_weight.is_contiguous(), "norm_weight must be contiguous"
    if residual is not None:
        assert norm_weight is not None, "a residual is added only before a norm"
        assert residual.shape == x.shape and residual.dtype == x.dtype and residual.stride(1) == 1


def decode_linear(
    *,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    norm_weight: torch.Tensor | None = None,
    residual: torch.Tensor | None = None,
    eps: float = 1e-6,
    swiglu: bool = False,
    rope: RopeStore | None = None,
    pdl: bool = False,
    config: DecodeLinearConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Triton fused decode projection; same contract as decode_linear_ref. pdl launches it as a
    programmatic dependent of the kernel before (CUDA, compute capability >= 9)."""
    require_triton()
    _check(x, weight, bias, norm_weight, residual, swiglu)
    assert not (swiglu and rope), "one epilogue at a time"
    rows, depth = x.shape
    cols = weight.shape[0] // 2 if swiglu else weight.shape[0]
    out = torch.empty(rows, cols, dtype=x.dtype, device=x.device)
    summed = torch.empty_like(x, memory_format=torch.contiguous_format) if residual is not None else None
    if config is None:
        config = decode_linear_config(k=depth, device=x.device)
    half = 1
    rope_args = dict(cos_ptr=x, sin_ptr=x, slot_ptr=x, kc_ptr=x, vc_ptr=x, stride_cos=0, stride_kc_slot=0,
                     stride_kc_head=0, stride_vc_slot=0, stride_vc_head=0, num_q_heads=0, num_kv_heads=0)
    if rope is not None:
        rope.check(out)
        half = rope.k_cache.shape[-1] // 2
        assert config.block_n <= half, "a RoPE column block must not cross a head"
        rope_args = dict(
            cos_ptr=rope.cos, sin_ptr=rope.sin, slot_ptr=rope.slot_mapping, kc_ptr=rope.k_cache,
            vc_ptr=rope.v_cache, stride_cos=rope.cos.stride(0), stride_kc_slot=rope.k_cache.stride(-3),
            stride_kc_head=rope.k_cache.stride(-2), stride_vc_slot=rope.v_cache.stride(-3),
            stride_vc_head=rope.v_cache.stride(-2), num_q_heads=rope.num_q_heads,
            num_kv_heads=rope.num_kv_heads)
    block_m = triton.next_power_of_2(rows)
    common = dict(
        x_ptr=x, res_ptr=x if residual is None else residual,
        norm_w_ptr=x if norm_weight is None else norm_weight, summed_ptr=out if summed is None else summed,
        w_ptr=weight, bias_ptr=x if bias is None else bias, out_ptr=out, **rope_args,
        M=rows, N_OUT=cols, K=depth, eps=eps, stride_xm=x.stride(0),
        stride_rm=0 if residual is None else residual.stride(0), stride_wn=weight.stride(0), stride_om=cols,
        NORM=norm_weight is not None, HAS_RES=residual is not None, HAS_BIAS=bias is not None,
        EPILOGUE=ROPE if rope is not None else SWIGLU if swiglu else PLAIN, PDL=pdl, HALF=half,
        BLOCK_M=block_m, BLOCK_N=config.block_n, num_warps=config.num_warps, **pdl_launch_options(pdl),
    )
    whole_k = triton.next_power_of_2(depth)
    num_blocks = triton.cdiv(cols // 2 if rope is not None else cols, config.block_n)
    if config.programs_per_sm and block_m * whole_k <= config.block_k:
        programs = min(num_blocks, config.programs_per_sm * device_sm_count(x.device))
        _decode_linear_stream_kernel[(programs,)](num_blocks=num_blocks, BLOCK_K=whole_k, **common)
    else:
        block_k = max(16, min(config.block_k // block_m, whole_k))
        _decode_linear_kernel[(num_blocks,)](EVEN_K=depth % block_k == 0, NUM_STAGES=config.num_stages,
                                             BLOCK_K=block_k, **common)
    return out, summed


def decode_linear_ref(
    *,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    norm_weight: torch.Tensor | None = None,
    residual: torch.Tensor | None = None,
    eps: float = 1e-6,
    swiglu: bool = False,
    rope: RopeStore | None = None,
    pdl: bool = False,
    config: DecodeLinearConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    del pdl, config  # launch details do not apply to the reference
    summed = None
    if residual is not None:
        x, summed = add_rms_norm_ref(x=x, residual=residual, weight=norm_weight, eps=eps)
    elif norm_weight is not None:
        x = rms_norm_ref(x=x, weight=norm_weight, eps=eps)
    out = torch.nn.functional.linear(x, weight, bias)
    if rope is not None:
        q, k, v = rope.split_heads(out)
        rope_and_store_kv_ref(q=q, k=k, v=v, cos=rope.cos, sin=rope.sin, k_cache=rope.k_cache,
                              v_cache=rope.v_cache, slot_mapping=rope.slot_mapping)
    return (silu_and_mul_ref(gate_up=out) if swiglu else out), summed
