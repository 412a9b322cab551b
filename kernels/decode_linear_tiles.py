"""Triton pieces of the decode projection kernels (codepager.kernels.decode_linear): loading x rows
(normed, with the residual added), the per-row 1/rms, the weight tiles of a column block, the
broadcast product and the epilogue (bias, SwiGLU, rounded store). Layouts are decode_linear's."""

from codepager.kernels.triton_import import tl, triton


@triton.jit
def load_x(x_ptr, res_ptr, norm_w_ptr, rows, row_ok, k, k_ok, inv_rms, stride_xm, stride_rm,
            NORM: tl.constexpr, HAS_RES: tl.constexpr):
    """x rows [BLOCK_M, BLOCK_K] at columns k, normed when NORM (inv_rms [BLOCK_M] per row)."""
    mask = row_ok[:, None] & k_ok[None, :]
    x = tl.load(x_ptr + rows[:, None] * stride_xm + k[None, :], mask=mask, other=0.0)
    if NORM:
        if HAS_RES:
            r = tl.load(res_ptr + rows[:, None] * stride_rm + k[None, :], mask=mask, other=0.0)
            x = (x.to(tl.float32) + r.to(tl.float32)).to(x.dtype)
        scaled = (x.to(tl.float32) * inv_rms[:, None]).to(x.dtype).to(tl.float32)
        nw = tl.load(norm_w_ptr + k, mask=k_ok, other=0.0).to(tl.float32)
        x = (nw[None, :] * scaled).to(x.dtype)
    return x


@triton.jit
def row_inv_rms(x_ptr, res_ptr, summed_ptr, rows, row_ok, K, eps, stride_xm, stride_rm, summed_rows,
             HAS_RES: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """1 / rms of each row of x (+ residual) [BLOCK_M]; writes the sum of rows below summed_rows."""
    squares = tl.zeros([BLOCK_M], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        mask = row_ok[:, None] & (k < K)[None, :]
        x = tl.load(x_ptr + rows[:, None] * stride_xm + k[None, :], mask=mask, other=0.0)
        if HAS_RES:
            r = tl.load(res_ptr + rows[:, None] * stride_rm + k[None, :], mask=mask, other=0.0)
            x = (x.to(tl.float32) + r.to(tl.float32)).to(x.dtype)
            tl.store(summed_ptr + rows[:, None] * K + k[None, :], x,
                     mask=(rows < summed_rows)[:, None] & (k < K)[None, :])
        xf = x.to(tl.float32)
        squares += tl.sum(xf * xf, axis=1)
    return tl.rsqrt(squares / K + eps)


@triton.jit
def weight_mask(col_ok, k_ok, EVEN_K: tl.constexpr):
    if EVEN_K:
        mask = col_ok[:, None] & (k_ok[None, :] | True)
    else:
        mask = col_ok[:, None] & k_ok[None, :]
    return mask


@triton.jit
def product(x, w):
    """x [BLOCK_M, BLOCK_K] times w [BLOCK_N, BLOCK_K] transposed -> [BLOCK_M, BLOCK_N] float32."""
    return tl.sum(x.to(tl.float32)[:, None, :] * w.to(tl.float32)[None, :, :], axis=2)


@triton.jit
def store_block(acc, acc_up, rows, row_ok, cols, col_ok, bias_ptr, out_ptr, N_OUT,
                 HAS_BIAS: tl.constexpr, SWIGLU: tl.constexpr):
    """Bias, SwiGLU (acc = gate, acc_up = up) and the rounded store of one block of columns."""
    dtype = out_ptr.dtype.element_ty
    if HAS_BIAS:
        acc += tl.load(bias_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
        if SWIGLU:
            acc_up += tl.load(bias_ptr + N_OUT + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    if SWIGLU:
        gate = acc.to(dtype).to(tl.float32)
        act = (gate / (1.0 + tl.exp(-gate))).to(dtype).to(tl.float32)
        acc = act * acc_up.to(dtype).to(tl.float32)
    tl.store(out_ptr + rows[:, None] * N_OUT + cols[None, :], acc.to(dtype),
             mask=row_ok[:, None] & col_ok[None, :])


@triton.jit
def load_block(w_ptr, block, k, k_ok, N_OUT, stride_wn, SWIGLU: tl.constexpr, BLOCK_N: tl.constexpr):
    """Weight rows of column block `block` over columns k: (gate or plain [BLOCK_N, BLOCK_K], up);
    rows past N_OUT read as zeros."""
    cols = block * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = (cols < N_OUT)[:, None] & k_ok[None, :]
    gate = tl.load(w_ptr + cols.to(tl.int64)[:, None] * stride_wn + k[None, :], mask=mask, other=0.0)
    up = gate
    if SWIGLU:
        up_rows = w_ptr + (cols + N_OUT).to(tl.int64)[:, None] * stride_wn
        up = tl.load(up_rows + k[None, :], mask=mask, other=0.0)
    return gate, up
