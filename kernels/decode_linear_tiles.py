"""Triton pieces of the decode projection kernels (codepager.kernels.decode_linear): loading x rows
(normed, with the residual added), the per-row 1/rms, the weight rows of a column block, the
broadcast product and the epilogues (bias; SwiGLU; RoPE with the K/V store). Layouts are
decode_linear's.

A column block is two sets of BLOCK_N weight rows, `first` and `second`, whose products the
epilogue combines: PLAIN uses first only; SWIGLU pairs gate row c with up row I + c; ROPE pairs
column i of a head with its rotation partner i + D/2 (a block never crosses a head)."""

from codepager.kernels.triton_import import tl, triton

PLAIN = tl.constexpr(0)
SWIGLU = tl.constexpr(1)
ROPE = tl.constexpr(2)


@triton.jit
def load_summed(x_ptr, res_ptr, rows, row_ok, k, k_ok, stride_xm, stride_rm, HAS_RES: tl.constexpr):
    """x rows [BLOCK_M, BLOCK_K] at columns k, plus the residual's (rounded) when HAS_RES."""
    mask = row_ok[:, None] & k_ok[None, :]
    x = tl.load(x_ptr + rows[:, None] * stride_xm + k[None, :], mask=mask, other=0.0)
    if HAS_RES:
        r = tl.load(res_ptr + rows[:, None] * stride_rm + k[None, :], mask=mask, other=0.0)
        x = (x.to(tl.float32) + r.to(tl.float32)).to(x.dtype)
    return x


@triton.jit
def apply_norm(x, inv_rms, norm_w_ptr, k, k_ok):
    """norm_weight * (x * inv_rms).to(dtype) at columns k, rounded as the reference rounds."""
    scaled = (x.to(tl.float32) * inv_rms[:, None]).to(x.dtype).to(tl.float32)
    return (tl.load(norm_w_ptr + k, mask=k_ok, other=0.0).to(tl.float32)[None, :] * scaled).to(x.dtype)


@triton.jit
def load_x(x_ptr, res_ptr, norm_w_ptr, rows, row_ok, k, k_ok, inv_rms, stride_xm, stride_rm,
           NORM: tl.constexpr, HAS_RES: tl.constexpr):
    """x rows [BLOCK_M, BLOCK_K] at columns k, normed when NORM (inv_rms [BLOCK_M] per row)."""
    if NORM:
        x = apply_norm(load_summed(x_ptr, res_ptr, rows, row_ok, k, k_ok, stride_xm, stride_rm, HAS_RES),
                       inv_rms, norm_w_ptr, k, k_ok)
    else:
        x = load_summed(x_ptr, res_ptr, rows, row_ok, k, k_ok, stride_xm, stride_rm, False)
    return x


@triton.jit
def row_inv_rms(x_ptr, res_ptr, summed_ptr, rows, row_ok, K, eps, stride_xm, stride_rm, summed_rows,
             HAS_RES: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """1 / rms of each row of x (+ residual) [BLOCK_M]; writes the sum of rows below summed_rows."""
    squares = tl.zeros([BLOCK_M], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        x = load_summed(x_ptr, res_ptr, rows, row_ok, k, k < K, stride_xm, stride_rm, HAS_RES)
        if HAS_RES:
            tl.store(summed_ptr + rows[:, None] * K + k[None, :], x,
                     mask=(rows < summed_rows)[:, None] & (k < K)[None, :])
        xf = x.to(tl.float32)
        squares += tl.sum(xf * xf, axis=1)
    return tl.rsqrt(squares / K + eps)


@triton.jit
def product(x, w):
    """x [BLOCK_M, BLOCK_K] times w [BLOCK_N, BLOCK_K] transposed -> [BLOCK_M, BLOCK_N] float32."""
    return tl.sum(x.to(tl.float32)[:, None, :] * w.to(tl.float32)[None, :, :], axis=2)


@triton.jit
def block_columns(block, N_OUT, EPILOGUE: tl.constexpr, BLOCK_N: tl.constexpr, HALF: tl.constexpr):
    """(first [BLOCK_N], second [BLOCK_N] weight rows, ok [BLOCK_N], head) of column block `block`
    (N_OUT: output columns, the intermediate size I for SWIGLU; head: ROPE's head index)."""
    n = tl.arange(0, BLOCK_N)
    if EPILOGUE == ROPE:
        per_head = HALF // BLOCK_N
        head = block // per_head
        first = head * 2 * HALF + (block % per_head) * BLOCK_N + n
        second = first + HALF
    else:
        head = block
        first = block * BLOCK_N + n
        second = first
        if EPILOGUE == SWIGLU:
            second = first + N_OUT
    return first, second, first < N_OUT, head


@triton.jit
def load_rows(w_ptr, first, second, ok, k, k_ok, stride_wn, EPILOGUE: tl.constexpr):
    """Weight rows first and (unless PLAIN) second at columns k, [BLOCK_N, BLOCK_K] each."""
    mask = ok[:, None] & k_ok[None, :]
    w1 = tl.load(w_ptr + first.to(tl.int64)[:, None] * stride_wn + k[None, :], mask=mask, other=0.0)
    w2 = w1
    if EPILOGUE != PLAIN:
        w2 = tl.load(w_ptr + second.to(tl.int64)[:, None] * stride_wn + k[None, :], mask=mask, other=0.0)
    return w1, w2


@triton.jit
def finish_block(acc1, acc2, rows, row_ok, first, second, ok, head, bias_ptr, out_ptr, stride_om,
                 cos_ptr, sin_ptr, slot_ptr, kc_ptr, vc_ptr,
                 stride_cos, stride_kc_slot, stride_kc_head, stride_vc_slot, stride_vc_head,
                 num_q_heads, num_kv_heads,
                 HAS_BIAS: tl.constexpr, EPILOGUE: tl.constexpr, HALF: tl.constexpr):
    """Bias, then the epilogue of one column block and its rounded store into out (rows, ...):
    PLAIN out[:, first]; SWIGLU out[:, first] = silu(gate) * up; ROPE rotates q and k heads
    (cos/sin of each row's token) into out[:, first] and out[:, second] and stores k and v heads
    into their cache slots (the rope arguments are read only for ROPE)."""
    dtype = out_ptr.dtype.element_ty
    if HAS_BIAS:
        acc1 += tl.load(bias_ptr + first, mask=ok, other=0.0).to(tl.float32)[None, :]
        if EPILOGUE != PLAIN:
            acc2 += tl.load(bias_ptr + second, mask=ok, other=0.0).to(tl.float32)[None, :]
    mask = row_ok[:, None] & ok[None, :]
    if EPILOGUE == SWIGLU:
        gate = acc1.to(dtype).to(tl.float32)
        act = (gate / (1.0 + tl.exp(-gate))).to(dtype).to(tl.float32)
        acc1 = act * acc2.to(dtype).to(tl.float32)
    if EPILOGUE == ROPE:
        lo = acc1.to(dtype).to(tl.float32)  # the projection's output, rounded as F.linear rounds
        hi = acc2.to(dtype).to(tl.float32)
        i = first % (2 * HALF)
        cos = tl.load(cos_ptr + rows[:, None] * stride_cos + i[None, :], mask=mask, other=0.0).to(tl.float32)
        sin = tl.load(sin_ptr + rows[:, None] * stride_cos + i[None, :], mask=mask, other=0.0).to(tl.float32)
        heads = rows * 0 + head  # the block's head, per row (a tensor in the interpreter too)
        rotate = (heads < num_q_heads + num_kv_heads)[:, None]  # q and k heads; v heads pass through
        lo_out = tl.where(rotate, lo * cos - hi * sin, lo).to(dtype)
        hi_out = tl.where(rotate, hi * cos + lo * sin, hi).to(dtype)
        tl.store(out_ptr + rows[:, None] * stride_om + second[None, :], hi_out, mask=mask)
        slot = tl.load(slot_ptr + rows, mask=row_ok, other=-1).to(tl.int64)
        k_head = head - num_q_heads
        is_k = (slot >= 0) & (heads >= num_q_heads) & (heads < num_q_heads + num_kv_heads)
        k_rows = kc_ptr + slot[:, None] * stride_kc_slot + k_head * stride_kc_head + i[None, :]
        tl.store(k_rows, lo_out, mask=mask & is_k[:, None])
        tl.store(k_rows + HALF, hi_out, mask=mask & is_k[:, None])
        v_head = k_head - num_kv_heads
        is_v = (slot >= 0) & (heads >= num_q_heads + num_kv_heads)
        v_rows = vc_ptr + slot[:, None] * stride_vc_slot + v_head * stride_vc_head + i[None, :]
        tl.store(v_rows, lo_out, mask=mask & is_v[:, None])
        tl.store(v_rows + HALF, hi_out, mask=mask & is_v[:, None])
        acc1 = lo_out.to(tl.float32)
    tl.store(out_ptr + rows[:, None] * stride_om + first[None, :], acc1.to(dtype), mask=mask)
