"""Small-M linear (GEMV for decode): out = x @ weight.T (+ bias) for a handful of rows.

A decode step multiplies 1-16 token rows by every projection weight, so the time is the time to
stream the weight once; cuBLAS reaches well under the copy bandwidth on these shapes. Each program
owns BLOCK_N output columns (weight rows) over a range of K and streams [BLOCK_N, BLOCK_K] weight
tiles (software-pipelined over num_stages); the x rows of each K step are re-read from L1/L2 (they
are tiny). Up to `dot_from_m - 1` rows multiply by broadcasting and summing over K; from there on
the rows are padded to 16 and go through tl.dot.

Layouts:
    x:      [M, K], 1 <= M <= MAX_M (16: the decode graphs' rows), last dimension contiguous
    weight: [N, K] row-major (nn.Linear layout), last dimension contiguous, same dtype as x
    bias:   [N] contiguous, same dtype, optional
    out:    [M, N] (optional, last dimension contiguous, same dtype); returned
    dtypes: bfloat16, float16, float32; float32 accumulation, output rounded once to x's dtype

Split-K: when the output columns alone give too few programs to fill the SMs (small N, long K:
down_proj), K is cut into `split` ranges that write float32 partial sums to a workspace
[split, M, N] and a second kernel adds them in a fixed order (plus bias) and rounds. This is
deterministic (no atomics: the same inputs give the same bits, so greedy decoding is
reproducible) and, like atomics, costs a second launch (atomics would need a zeroing memset and
a final cast). The workspace is sized from shapes only and allocated in the launcher, and nothing
is read on the host, so a call can be captured in a CUDA graph.
"""

from dataclasses import dataclass

import torch

from codepager.kernels.paged_tiles import device_sm_count
from codepager.kernels.triton_import import require_triton, tl, triton

MAX_M = 16
DTYPES = (torch.bfloat16, torch.float16, torch.float32)


@triton.jit
def _tile_product(x, w, USE_DOT: tl.constexpr, DOT_PRECISION: tl.constexpr):
    """x [BLOCK_M, BLOCK_K] times w [BLOCK_N, BLOCK_K] transposed -> [BLOCK_M, BLOCK_N] float32."""
    if USE_DOT:
        return tl.dot(x, tl.trans(w), input_precision=DOT_PRECISION)
    prod = x.to(tl.float32)[:, None, :] * w.to(tl.float32)[None, :, :]  # (BLOCK_M, BLOCK_N, BLOCK_K)
    return tl.sum(prod, axis=2)


@triton.jit
def _small_m_linear_kernel(
    x_ptr, w_ptr, bias_ptr, out_ptr,
    M, N, K, k_per_split,
    stride_xm, stride_wn, stride_om, stride_os,
    HAS_BIAS: tl.constexpr, EVEN_K: tl.constexpr, USE_DOT: tl.constexpr,
    DOT_PRECISION: tl.constexpr, NUM_STAGES: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    """Program (column block, split): partial sums of K range `split` into out + split * stride_os
    (the float32 workspace when split, else the output itself, then with bias and rounded)."""
    split = tl.program_id(1)
    cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = cols < N
    rows = tl.arange(0, BLOCK_M)
    row_ok = rows < M
    k_begin = split * k_per_split
    k_end = tl.minimum(k_begin + k_per_split, K)
    w_rows = w_ptr + cols.to(tl.int64)[:, None] * stride_wn  # (BLOCK_N, 1)
    x_rows = x_ptr + rows[:, None] * stride_xm  # (BLOCK_M, 1)

    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in tl.range(k_begin, k_end, BLOCK_K, num_stages=NUM_STAGES):
        k = k0 + tl.arange(0, BLOCK_K)
        if EVEN_K:
            w = tl.load(w_rows + k[None, :], mask=col_ok[:, None], other=0.0)
            x = tl.load(x_rows + k[None, :], mask=row_ok[:, None], other=0.0)
        else:
            k_ok = k < k_end
            w = tl.load(w_rows + k[None, :], mask=col_ok[:, None] & k_ok[None, :], other=0.0)
            x = tl.load(x_rows + k[None, :], mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        acc += _tile_product(x, w, USE_DOT, DOT_PRECISION)

    if HAS_BIAS:
        acc += tl.load(bias_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    out = out_ptr + split.to(tl.int64) * stride_os + rows[:, None] * stride_om + cols[None, :]
    tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=row_ok[:, None] & col_ok[None, :])


@triton.jit
def _merge_splits_kernel(
    part_ptr, bias_ptr, out_ptr,
    N, num_splits, stride_ps, stride_om,
    HAS_BIAS: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK: tl.constexpr,
):
    """Program (row, column block): out[row] = sum over splits (+ bias), rounded once. All splits
    load at once (one memory round trip) and reduce in a fixed tree order: deterministic."""
    row = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    splits = tl.arange(0, BLOCK_S)
    ok = cols < N
    part = part_ptr + splits[:, None] * stride_ps + row * N + cols[None, :]  # part is [split, M, N]
    acc = tl.sum(tl.load(part, mask=(splits < num_splits)[:, None] & ok[None, :], other=0.0), axis=0)
    if HAS_BIAS:
        acc += tl.load(bias_ptr + cols, mask=ok, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * stride_om + cols, acc.to(out_ptr.dtype.element_ty), mask=ok)


@dataclass(frozen=True, slots=True)
class SmallMConfig:
    """Tiles and launch settings of one shape class. split_k > 0 forces a split count (sweeps);
    0 applies the rule: split K until cdiv(N, block_n) * split >= programs_per_sm * SMs, never
    into ranges shorter than min_k_per_split."""

    block_n: int
    block_k: int
    num_warps: int
    num_stages: int
    dot_from_m: int = 5
    programs_per_sm: int = 4
    min_k_per_split: int = 512
    split_k: int = 0

    def __post_init__(self) -> None:
        for name in ("block_n", "block_k", "num_warps"):
            value = getattr(self, name)
            if value < 1 or value & (value - 1):
                raise ValueError(f"SmallMConfig.{name} must be a power of two, got {value}")
        if self.dot_from_m <= MAX_M and (self.block_n < 16 or self.block_k < 16):
            raise ValueError("SmallMConfig: tl.dot needs block_n and block_k >= 16 (or dot_from_m > 16)")
        if self.num_stages < 1 or self.programs_per_sm < 1 or self.min_k_per_split < 1 or self.split_k < 0:
            raise ValueError(f"SmallMConfig: invalid settings {self}")


# Per platform and shape class (see shape_class); the CUDA entries are starting points for H100,
# to be retuned with `benchmarks/small_m_linear.py --sweep`.
SMALL_M_CONFIGS = {
    "cuda": {
        "wide": SmallMConfig(block_n=16, block_k=256, num_warps=4, num_stages=3),
        "square": SmallMConfig(block_n=16, block_k=256, num_warps=4, num_stages=3),
        "deep": SmallMConfig(block_n=16, block_k=256, num_warps=4, num_stages=3, min_k_per_split=1024),
    },
    "interpreter": {
        "wide": SmallMConfig(block_n=16, block_k=32, num_warps=4, num_stages=1),
        "square": SmallMConfig(block_n=16, block_k=32, num_warps=4, num_stages=1, min_k_per_split=32),
        "deep": SmallMConfig(block_n=16, block_k=32, num_warps=4, num_stages=1, min_k_per_split=32),
    },
}
WIDE_N = 8192  # from here the column blocks alone fill the GPU (gate_up)
DEEP_K = 8192  # long reductions into few columns (down_proj): split-K
MERGE_BLOCK = 128  # columns per merge program: N=1536 gives 12 programs per row


def shape_class(*, n: int, k: int) -> str:
    if n >= WIDE_N:
        return "wide"
    if k >= DEEP_K:
        return "deep"
    return "square"


def config_for(*, n: int, k: int, device: torch.device) -> SmallMConfig:
    platform = "cuda" if device.type == "cuda" else "interpreter"
    return SMALL_M_CONFIGS[platform][shape_class(n=n, k=k)]


def split_k_for(*, n: int, k: int, config: SmallMConfig, sm_count: int) -> tuple[int, int]:
    """(number of K splits, K elements per split: a multiple of block_k). Shapes only."""
    if config.split_k:
        wanted = config.split_k
    else:
        wanted = triton.cdiv(config.programs_per_sm * sm_count, triton.cdiv(n, config.block_n))
        wanted = min(wanted, k // config.min_k_per_split)
    wanted = max(1, min(wanted, triton.cdiv(k, config.block_k)))
    k_per_split = triton.cdiv(triton.cdiv(k, wanted), config.block_k) * config.block_k
    return triton.cdiv(k, k_per_split), k_per_split


def small_m_linear(
    *,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
    config: SmallMConfig | None = None,
) -> torch.Tensor:
    """Triton x @ weight.T (+ bias) for 1 <= M <= 16 rows; same contract as small_m_linear_ref."""
    require_triton()
    assert x.dim() == 2 and weight.dim() == 2, "x must be [M, K] and weight [N, K]"
    rows, depth = x.shape
    cols = weight.shape[0]
    assert 1 <= rows <= MAX_M, f"small_m_linear takes 1 to {MAX_M} rows, got {rows}"
    assert weight.shape[1] == depth and depth >= 1, (
        f"weight {tuple(weight.shape)} does not match x {tuple(x.shape)}")
    assert x.dtype in DTYPES and weight.dtype == x.dtype, f"x and weight must share a dtype of {DTYPES}"
    assert x.device == weight.device, "x and weight must be on one device"
    assert x.stride(1) == 1 and weight.stride(1) == 1, "x and weight rows must be contiguous"
    if bias is not None:
        assert bias.shape == (cols,) and bias.dtype == x.dtype and bias.is_contiguous(), "bias must be [N]"
    if out is None:
        out = torch.empty(rows, cols, dtype=x.dtype, device=x.device)
    assert out.shape == (rows, cols) and out.dtype == x.dtype and out.stride(1) == 1, "out must be [M, N]"
    if cols == 0:
        return out
    if config is None:
        config = config_for(n=cols, k=depth, device=x.device)
    use_dot = rows >= config.dot_from_m
    num_splits, k_per_split = split_k_for(n=cols, k=depth, config=config, sm_count=device_sm_count(x.device))
    split_out = out
    if num_splits > 1:
        split_out = torch.empty(num_splits, rows, cols, dtype=torch.float32, device=x.device)
    _small_m_linear_kernel[(triton.cdiv(cols, config.block_n), num_splits)](
        x_ptr=x, w_ptr=weight, bias_ptr=x if bias is None else bias, out_ptr=split_out,
        M=rows, N=cols, K=depth, k_per_split=k_per_split,
        stride_xm=x.stride(0), stride_wn=weight.stride(0),
        stride_om=split_out.stride(-2), stride_os=rows * cols,
        HAS_BIAS=bias is not None and num_splits == 1, EVEN_K=depth % config.block_k == 0,
        USE_DOT=use_dot, DOT_PRECISION="ieee" if x.dtype == torch.float32 else "tf32",
        NUM_STAGES=config.num_stages,
        BLOCK_M=16 if use_dot else triton.next_power_of_2(rows),
        BLOCK_N=config.block_n, BLOCK_K=config.block_k,
        num_warps=config.num_warps,
    )
    if num_splits > 1:
        merge_block = min(MERGE_BLOCK, triton.next_power_of_2(cols))
        _merge_splits_kernel[(rows, triton.cdiv(cols, merge_block))](
            part_ptr=split_out, bias_ptr=x if bias is None else bias, out_ptr=out,
            N=cols, num_splits=num_splits, stride_ps=rows * cols, stride_om=out.stride(0),
            HAS_BIAS=bias is not None, BLOCK_S=triton.next_power_of_2(num_splits), BLOCK=merge_block,
            num_warps=4,
        )
    return out


def small_m_linear_ref(
    *,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
    config: SmallMConfig | None = None,
) -> torch.Tensor:
    del config  # tiles do not apply to the reference
    result = torch.nn.functional.linear(x, weight, bias)
    if out is None:
        return result
    return out.copy_(result)


__all__ = ["MAX_M", "SMALL_M_CONFIGS", "SmallMConfig", "config_for", "shape_class",
           "small_m_linear", "small_m_linear_ref", "split_k_for"]
