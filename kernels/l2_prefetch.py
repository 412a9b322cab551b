"""Prefetch the start of a weight matrix into the GPU's L2 cache, for a later kernel to read.

A decode step at a small model is a chain of short kernels: the attention of one sequence and the
small projections around it are latency-bound and leave most of the DRAM bandwidth idle, while the
MLP GEMVs after them are bandwidth-bound. Run on a side stream at the start of a layer, this kernel
turns the idle bandwidth into L2 hits for the weights read next (o_proj, the first rows of
gate_up): the GEMVs then read fewer bytes from DRAM. It has no output and changes no data.

Layout: any contiguous tensor; the first `nbytes` (rounded down to whole 128-byte lines, clipped to
the tensor) are prefetched with `prefetch.global.L2` (PTX, sm_80+), one line per thread per
iteration. CUDA only (inline PTX: the interpreter cannot run it); the reference is a no-op.
"""

import torch

from codepager.kernels.triton_import import require_triton, tl, triton

LINE = 128  # bytes per L2 line
POLICIES = {"normal": "prefetch.global.L2", "evict_last": "prefetch.global.L2::evict_last"}


@triton.jit
def _prefetch_kernel(ptr, num_lines, LINES_PER_PROGRAM: tl.constexpr, BLOCK: tl.constexpr,
                     LINE_ELEMENTS: tl.constexpr, ASM: tl.constexpr):
    first = tl.program_id(0).to(tl.int64) * LINES_PER_PROGRAM
    for start in range(0, LINES_PER_PROGRAM, BLOCK):
        lines = tl.minimum(first + start + tl.arange(0, BLOCK), num_lines - 1)  # no masks in asm
        tl.inline_asm_elementwise(ASM, "=r,l", [ptr + lines * LINE_ELEMENTS], dtype=tl.int32,
                                  is_pure=False, pack=1)


def prefetch_l2(*, t: torch.Tensor, nbytes: int, policy: str = "normal", programs: int = 64) -> None:
    """Prefetch the first nbytes of contiguous CUDA tensor t into L2 (asynchronously, on the
    current stream). Graph-capturable."""
    require_triton()
    assert t.is_cuda and t.is_contiguous(), "prefetch_l2 takes a contiguous CUDA tensor"
    assert policy in POLICIES, f"policy must be one of {sorted(POLICIES)}"
    assert LINE % t.element_size() == 0
    num_lines = min(nbytes, t.numel() * t.element_size()) // LINE
    if num_lines <= 0:
        return
    block = 128
    per_program = triton.cdiv(triton.cdiv(num_lines, programs), block) * block
    asm = f"mov.u32 $0, 0; {POLICIES[policy]} [$1];"
    _prefetch_kernel[(triton.cdiv(num_lines, per_program),)](
        ptr=t, num_lines=num_lines, LINES_PER_PROGRAM=per_program, BLOCK=block,
        LINE_ELEMENTS=LINE // t.element_size(), ASM=asm, num_warps=4,
    )


def prefetch_l2_ref(*, t: torch.Tensor, nbytes: int, policy: str = "normal", programs: int = 64) -> None:
    """A prefetch changes no values: the reference does nothing."""
