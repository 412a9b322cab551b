"""SwiGLU activation on the output of a fused gate/up projection: silu(gate) * up in one kernel.

Rounds as torch does in the input dtype (silu rounded, then the product rounded), computing in
float32.

Layouts:
    gate_up: [T, 2 * I] (gate in columns [0, I), up in [I, 2I); any token stride, columns contiguous)
    returns  [T, I] contiguous, same dtype

Kernel: one program per (token, block of BLOCK columns). No host reads, so it is graph-capturable.
"""

import torch

from codepager.kernels.triton_import import require_triton, tl, triton

BLOCK = 1024


@triton.jit
def _silu_and_mul_kernel(
    gate_up_ptr, out_ptr, inter, stride_gu_tok,
    BLOCK: tl.constexpr,
):
    token = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    ok = cols < inter
    row = gate_up_ptr + token * stride_gu_tok
    gate = tl.load(row + cols, mask=ok, other=0.0).to(tl.float32)
    up = tl.load(row + inter + cols, mask=ok, other=0.0).to(tl.float32)
    act = (gate / (1.0 + tl.exp(-gate))).to(out_ptr.dtype.element_ty).to(tl.float32)
    tl.store(out_ptr + token * inter + cols, (act * up).to(out_ptr.dtype.element_ty), mask=ok)


def silu_and_mul(*, gate_up: torch.Tensor) -> torch.Tensor:
    """Triton SwiGLU; same contract as silu_and_mul_ref."""
    require_triton()
    assert gate_up.dim() == 2 and gate_up.shape[1] % 2 == 0, "gate_up must be [T, 2 * I]"
    assert gate_up.stride(1) == 1, "gate_up columns must be contiguous"
    tokens, inter = gate_up.shape[0], gate_up.shape[1] // 2
    out = torch.empty(tokens, inter, dtype=gate_up.dtype, device=gate_up.device)
    if out.numel() == 0:
        return out
    block = min(BLOCK, triton.next_power_of_2(inter))
    _silu_and_mul_kernel[(tokens, triton.cdiv(inter, block))](
        gate_up_ptr=gate_up, out_ptr=out, inter=inter, stride_gu_tok=gate_up.stride(0),
        BLOCK=block, num_warps=4,
    )
    return out


def silu_and_mul_ref(*, gate_up: torch.Tensor) -> torch.Tensor:
    gate, up = gate_up.chunk(2, dim=-1)  # each (T, I)
    return torch.nn.functional.silu(gate) * up
