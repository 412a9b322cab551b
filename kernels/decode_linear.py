"""Decode projection: out = epilogue(prologue(x) @ weight.T) for a few token rows, one kernel.

A decode step streams every projection weight once for a handful of rows; cuBLAS does that well on
large matrices, but a layer is eleven launches whose ramps and tails cost more than the 1.5B-sized
weights take to stream. This kernel folds what sits between the projections into them, so a layer
is four projections plus attention, and can be chained with programmatic dependent launch
(codepager.kernels.pdl): each program loads its first weight tile before waiting for the kernel
before it.

    prologue (norm_weight given):  s = x (+ residual, rounded: the new residual stream)
                                   x = norm_weight * (s * rsqrt(mean(s^2) + eps)).to(dtype)
    product:                       y = x @ weight.T (+ bias), float32 accumulation
    epilogue (swiglu):             weight is [2I, K] (gate rows, then up rows): out = silu(g) * u
rounded as the unfused references round (codepager.kernels.rms_norm, swiglu).

Layouts:
    x:           [M, K], 1 <= M <= MAX_M, last dimension contiguous
    residual:    [M, K] like x, optional (only with norm_weight)
    norm_weight: [K] contiguous, optional
    weight:      [N, K] row-major (nn.Linear), contiguous; bias [N] optional
    returns (out [M, N] or [M, N/2] with swiglu, summed [M, K] or None), contiguous, x's dtype

Kernel: one program per BLOCK_N output columns streams [BLOCK_N, BLOCK_K] weight tiles over the
whole K (no split-K: one launch, deterministic) and multiplies by broadcast and sum. With a norm,
each program first sums the squares of its rows (x is a few KB, read from L2); program 0 also writes
the summed residual. No host reads, so calls can be captured in a CUDA graph.
"""

from dataclasses import dataclass

import torch

from codepager.kernels.decode_linear_tiles import (
    load_block,
    load_x,
    product,
    row_inv_rms,
    store_block,
    weight_mask,
)
from codepager.kernels.paged_tiles import device_sm_count
from codepager.kernels.pdl import pdl_launch_options, pdl_wait_then_release
from codepager.kernels.rms_norm import add_rms_norm_ref, rms_norm_ref
from codepager.kernels.swiglu import silu_and_mul_ref
from codepager.kernels.triton_import import require_triton, tl, triton

MAX_M = 4  # rows multiply by broadcast: more rows would need tl.dot tiles (cuBLAS serves those)


@triton.jit
def _decode_linear_stream_kernel(
    x_ptr, res_ptr, norm_w_ptr, summed_ptr, w_ptr, bias_ptr, out_ptr,
    M, N_OUT, K, eps, stride_xm, stride_rm, stride_wn, num_blocks,
    NORM: tl.constexpr, HAS_RES: tl.constexpr, HAS_BIAS: tl.constexpr, SWIGLU: tl.constexpr,
    PDL: tl.constexpr, AHEAD: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    """K in one tile: x is read and normed once, then each program streams column blocks
    pid, pid + programs, ... with the weights of the next AHEAD (1 or 2) blocks in flight while one
    is multiplied; the first AHEAD blocks load before the wait for the kernel before."""
    pid = tl.program_id(0)
    step = tl.num_programs(0)
    rows = tl.arange(0, BLOCK_M)
    row_ok = rows < M
    k = tl.arange(0, BLOCK_K)
    k_ok = k < K
    gate_w, up_w = load_block(w_ptr, pid, k, k_ok, N_OUT, stride_wn, SWIGLU, BLOCK_N)  # before the wait
    gate_w2, up_w2 = gate_w, up_w
    if AHEAD == 2:
        gate_w2, up_w2 = load_block(w_ptr, pid + step, k, k_ok, N_OUT, stride_wn, SWIGLU, BLOCK_N)
    pdl_wait_then_release(PDL)

    mask = row_ok[:, None] & k_ok[None, :]
    x = tl.load(x_ptr + rows[:, None] * stride_xm + k[None, :], mask=mask, other=0.0)
    if NORM:
        if HAS_RES:
            r = tl.load(res_ptr + rows[:, None] * stride_rm + k[None, :], mask=mask, other=0.0)
            x = (x.to(tl.float32) + r.to(tl.float32)).to(x.dtype)
            tl.store(summed_ptr + rows[:, None] * K + k[None, :], x,
                     mask=(rows < tl.where(pid == 0, M, 0))[:, None] & k_ok[None, :])
        xf = x.to(tl.float32)
        inv_rms = tl.rsqrt(tl.sum(xf * xf, axis=1) / K + eps)
        scaled = (xf * inv_rms[:, None]).to(x.dtype).to(tl.float32)
        x = (tl.load(norm_w_ptr + k, mask=k_ok, other=0.0).to(tl.float32)[None, :] * scaled).to(x.dtype)

    for block in range(pid, num_blocks, step):
        ahead = block + AHEAD * step
        next_gate, next_up = load_block(w_ptr, ahead, k, k_ok, N_OUT, stride_wn, SWIGLU, BLOCK_N)
        acc = product(x, gate_w)
        acc_up = acc
        if SWIGLU:
            acc_up = product(x, up_w)
        cols = block * BLOCK_N + tl.arange(0, BLOCK_N)
        store_block(acc, acc_up, rows, row_ok, cols, cols < N_OUT, bias_ptr, out_ptr, N_OUT,
                     HAS_BIAS, SWIGLU)
        if AHEAD == 2:
            gate_w, up_w = gate_w2, up_w2
            gate_w2, up_w2 = next_gate, next_up
        else:
            gate_w, up_w = next_gate, next_up


@triton.jit
def _decode_linear_kernel(
    x_ptr, res_ptr, norm_w_ptr, summed_ptr, w_ptr, bias_ptr, out_ptr,
    M, N_OUT, K, eps, stride_xm, stride_rm, stride_wn,
    NORM: tl.constexpr, HAS_RES: tl.constexpr, HAS_BIAS: tl.constexpr, SWIGLU: tl.constexpr,
    EVEN_K: tl.constexpr, PDL: tl.constexpr, NUM_STAGES: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid = tl.program_id(0)
    cols = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = cols < N_OUT
    rows = tl.arange(0, BLOCK_M)
    row_ok = rows < M
    gate_rows = w_ptr + cols.to(tl.int64)[:, None] * stride_wn  # (BLOCK_N, 1)
    up_rows = w_ptr + (cols + N_OUT).to(tl.int64)[:, None] * stride_wn  # swiglu: the up half

    # the first weight tile does not depend on the kernel before: load it before waiting for it
    k = tl.arange(0, BLOCK_K)
    k_ok = k < K
    w_mask = weight_mask(col_ok, k_ok, EVEN_K)
    gate_w = tl.load(gate_rows + k[None, :], mask=w_mask, other=0.0)
    up_w = gate_w
    if SWIGLU:
        up_w = tl.load(up_rows + k[None, :], mask=w_mask, other=0.0)
    pdl_wait_then_release(PDL)

    inv_rms = tl.full([BLOCK_M], 1.0, dtype=tl.float32)
    if NORM:
        inv_rms = row_inv_rms(x_ptr, res_ptr, summed_ptr, rows, row_ok, K, eps, stride_xm, stride_rm,
                              tl.where(pid == 0, M, 0), HAS_RES, BLOCK_M, BLOCK_K)
    x = load_x(x_ptr, res_ptr, norm_w_ptr, rows, row_ok, k, k_ok, inv_rms, stride_xm, stride_rm,
                NORM, HAS_RES)
    acc = product(x, gate_w)
    acc_up = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    if SWIGLU:
        acc_up = product(x, up_w)
    for k0 in tl.range(BLOCK_K, K, BLOCK_K, num_stages=NUM_STAGES):
        k = k0 + tl.arange(0, BLOCK_K)
        k_ok = k < K
        w_mask = weight_mask(col_ok, k_ok, EVEN_K)
        x = load_x(x_ptr, res_ptr, norm_w_ptr, rows, row_ok, k, k_ok, inv_rms, stride_xm, stride_rm,
                    NORM, HAS_RES)
        acc += product(x, tl.load(gate_rows + k[None, :], mask=w_mask, other=0.0))
        if SWIGLU:
            acc_up += product(x, tl.load(up_rows + k[None, :], mask=w_mask, other=0.0))

    store_block(acc, acc_up, rows, row_ok, cols, col_ok, bias_ptr, out_ptr, N_OUT, HAS_BIAS, SWIGLU)


@dataclass(frozen=True, slots=True)
class DecodeLinearConfig:
    """Tiles of one shape class. programs_per_sm > 0: when a row's K fits in block_k elements, the
    streaming kernel (x normed once per program, programs_per_sm programs per SM each streaming
    column blocks; num_stages unused); otherwise one program per column block walks K in block_k
    tiles (block_k shrinks as rows grow, keeping the broadcast product's registers bounded)."""

    block_n: int
    block_k: int
    num_warps: int
    num_stages: int
    programs_per_sm: int = 0
    blocks_ahead: int = 1  # streaming kernel: column blocks whose weights are in flight (1 or 2)

    def __post_init__(self) -> None:
        for name in ("block_n", "block_k", "num_warps"):
            value = getattr(self, name)
            if value < 1 or value & (value - 1):
                raise ValueError(f"DecodeLinearConfig.{name} must be a power of two, got {value}")
        if self.num_stages < 1 or self.programs_per_sm < 0 or self.blocks_ahead not in (1, 2):
            raise ValueError(f"DecodeLinearConfig: invalid stages, programs per SM or blocks ahead in {self}")


# Per platform and shape class ("deep": long reductions into few columns, down_proj); the CUDA
# entries come from the H100: `benchmarks/decode_linear.py --sweep` (each kernel alone), then
# `benchmarks/decode_burst.py --linear-configs` (chained in the decode step, which decides: deep
# 2x2048 tiles in 2 stages decode a 1.5b token 7 % faster than 4x1024 in 3, equal alone).
DECODE_LINEAR_CONFIGS = {
    "cuda": {
        "shallow": DecodeLinearConfig(block_n=2, block_k=4096, num_warps=4, num_stages=1, programs_per_sm=4),
        "deep": DecodeLinearConfig(block_n=2, block_k=2048, num_warps=4, num_stages=2),
    },
    "interpreter": {
        "shallow": DecodeLinearConfig(block_n=8, block_k=128, num_warps=4, num_stages=1, programs_per_sm=1),
        "deep": DecodeLinearConfig(block_n=4, block_k=32, num_warps=4, num_stages=1),
    },
}
DEEP_K = 4 * 1024


def decode_linear_config(*, k: int, device: torch.device) -> DecodeLinearConfig:
    platform = "cuda" if device.type == "cuda" else "interpreter"
    return DECODE_LINEAR_CONFIGS[platform]["deep" if k >= DEEP_K else "shallow"]


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
    pdl: bool = False,
    config: DecodeLinearConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Triton fused decode projection; same contract as decode_linear_ref. pdl launches it as a
    programmatic dependent of the kernel before (CUDA, compute capability >= 9)."""
    require_triton()
    _check(x, weight, bias, norm_weight, residual, swiglu)
    rows, depth = x.shape
    cols = weight.shape[0] // 2 if swiglu else weight.shape[0]
    out = torch.empty(rows, cols, dtype=x.dtype, device=x.device)
    summed = torch.empty_like(x, memory_format=torch.contiguous_format) if residual is not None else None
    if config is None:
        config = decode_linear_config(k=depth, device=x.device)
    block_m = triton.next_power_of_2(rows)
    common = dict(
        x_ptr=x, res_ptr=x if residual is None else residual,
        norm_w_ptr=x if norm_weight is None else norm_weight, summed_ptr=out if summed is None else summed,
        w_ptr=weight, bias_ptr=x if bias is None else bias, out_ptr=out,
        M=rows, N_OUT=cols, K=depth, eps=eps, stride_xm=x.stride(0),
        stride_rm=0 if residual is None else residual.stride(0), stride_wn=weight.stride(0),
        NORM=norm_weight is not None, HAS_RES=residual is not None, HAS_BIAS=bias is not None,
        SWIGLU=swiglu, PDL=pdl, BLOCK_M=block_m, BLOCK_N=config.block_n,
        num_warps=config.num_warps, **pdl_launch_options(pdl),
    )
    whole_k = triton.next_power_of_2(depth)
    num_blocks = triton.cdiv(cols, config.block_n)
    programs = min(num_blocks, config.programs_per_sm * device_sm_count(x.device))
    if config.programs_per_sm and block_m * whole_k <= config.block_k:
        _decode_linear_stream_kernel[(programs,)](num_blocks=num_blocks, BLOCK_K=whole_k,
                                                  AHEAD=config.blocks_ahead, **common)
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
    return (silu_and_mul_ref(gate_up=out) if swiglu else out), summed
