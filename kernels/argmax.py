"""Greedy token choice: the index of each row's largest logit (the first one on ties, as
torch.argmax), in two small kernels where torch's reduction takes one slow one and a memset.

Layouts:
    logits: [M, V] (any row stride, columns contiguous), any float dtype
    out:    [M] int64 (any stride; e.g. the input-ids row of a decode graph's static buffer)

Kernels: stage 1, one program per (row, block of BLOCK columns), writes the block's largest value
(float32, exact for any input dtype) and its first index; stage 2, one program per row, reduces
the blocks the same way. NaN logits have no defined choice here. No host reads, so it is
graph-capturable.
"""

import torch

from codepager.kernels.triton_import import require_triton, tl, triton

BLOCK = 2048  # 75 programs for a 151,936-token vocabulary: one wave of short loads


@triton.jit
def _first_max(values, indices, BIG: tl.constexpr):
    """(largest value, smallest index holding it) of a block."""
    best = tl.max(values, axis=0)
    return best, tl.min(tl.where(values == best, indices, BIG), axis=0)


@triton.jit
def _block_max_kernel(
    logits_ptr, part_val_ptr, part_idx_ptr, vocab, num_blocks, stride_row,
    BLOCK: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    block = tl.program_id(1)
    cols = block * BLOCK + tl.arange(0, BLOCK)
    values = tl.load(logits_ptr + row * stride_row + cols, mask=cols < vocab, other=float("-inf"))
    best, where = _first_max(values.to(tl.float32), cols, 2**31 - 1)
    tl.store(part_val_ptr + row * num_blocks + block, best)
    tl.store(part_idx_ptr + row * num_blocks + block, where)


@triton.jit
def _row_max_kernel(
    part_val_ptr, part_idx_ptr, out_ptr, num_blocks, stride_out,
    BLOCKS: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    blocks = tl.arange(0, BLOCKS)
    ok = blocks < num_blocks
    values = tl.load(part_val_ptr + row * num_blocks + blocks, mask=ok, other=float("-inf"))
    indices = tl.load(part_idx_ptr + row * num_blocks + blocks, mask=ok, other=2**31 - 1)
    # blocks hold increasing columns, so the smallest index among the best blocks is the first
    _best, where = _first_max(values, indices, 2**31 - 1)
    tl.store(out_ptr + row * stride_out, where.to(tl.int64))


def greedy_argmax(*, logits: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Triton argmax over the last dim; same contract as greedy_argmax_ref."""
    require_triton()
    assert logits.dim() == 2 and logits.stride(1) == 1, "logits must be [M, V] with contiguous columns"
    rows, vocab = logits.shape
    assert 0 < vocab < 2**31 - 1, "vocabulary size out of range"
    if out is None:
        out = torch.empty(rows, dtype=torch.int64, device=logits.device)
    assert out.shape == (rows,) and out.dtype == torch.int64, "out must be [M] int64"
    if rows == 0:
        return out
    block = min(BLOCK, triton.next_power_of_2(vocab))
    num_blocks = triton.cdiv(vocab, block)
    part_val = torch.empty(rows, num_blocks, dtype=torch.float32, device=logits.device)
    part_idx = torch.empty(rows, num_blocks, dtype=torch.int32, device=logits.device)
    _block_max_kernel[(rows, num_blocks)](
        logits_ptr=logits, part_val_ptr=part_val, part_idx_ptr=part_idx, vocab=vocab,
        num_blocks=num_blocks, stride_row=logits.stride(0), BLOCK=block, num_warps=4,
    )
    _row_max_kernel[(rows,)](
        part_val_ptr=part_val, part_idx_ptr=part_idx, out_ptr=out, num_blocks=num_blocks,
        stride_out=out.stride(0), BLOCKS=triton.next_power_of_2(num_blocks), num_warps=4,
    )
    return out


def greedy_argmax_ref(*, logits: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    return torch.argmax(logits, dim=-1, out=out)
