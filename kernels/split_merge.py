"""Split-K merge: the paged kernels' partial results over ranges of keys combined by log-sum-exp.

Layouts:
    part_out: [rows, heads, splits, head_dim] fp32   each split's output, normalised by its own sum
    part_lse: [rows, heads, splits] fp32             log2 of that sum (plus the split's max score);
                                                     -inf for a split that saw no key
    out:      [rows, heads, head_dim]                any dtype, last dimension contiguous

Kernel: one program per (row, head, slice of head_dim). All splits are read in one pass (the loop
runs once) whenever they fit SPLIT_BLOCK: a merge is latency, not bandwidth (its partials were just
written and sit in L2), so one round of loads and programs spread over head_dim slices until the
GPU has a few per SM are what make it short. Launched as a programmatic dependent (pdl) its
programs can be resident before the split kernel ends; the split kernel must then release them
(codepager.kernels.pdl), and they wait for it at their first instruction.

Limits: head_dim a power of two; any number of splits (more than MAX_SPLIT_BLOCK loop).
"""

import torch

from codepager.kernels.pdl import pdl_launch_options, pdl_wait_then_release
from codepager.kernels.triton_import import tl, triton


@triton.jit
def split_result(m_i, l_i, acc):
    """A split's (part_out rows, part_lse rows) from its online softmax (running max m_i and sum l_i
    [ROWS], output acc [ROWS, D]): acc / l_i and m_i + log2(l_i), -inf for a row that saw no key."""
    has_keys = l_i > 0
    out = acc / tl.where(has_keys, l_i, 1.0)[:, None]
    lse = tl.where(has_keys, m_i + tl.log2(tl.where(has_keys, l_i, 1.0)), float("-inf"))
    return out, lse


@triton.jit
def _merge_splits_kernel(
    part_out_ptr, part_lse_ptr, out_ptr, num_splits,
    stride_out_seq, stride_out_head,
    HEAD_DIM: tl.constexpr, D_BLOCK: tl.constexpr, SPLIT_BLOCK: tl.constexpr, PDL: tl.constexpr,
):
    pdl_wait_then_release(PDL)
    seq = tl.program_id(0)  # a sequence (decode) or a query token (extend)
    head = tl.program_id(1)
    row = seq * tl.num_programs(1) + head
    d = tl.program_id(2) * D_BLOCK + tl.arange(0, D_BLOCK)
    m = tl.full([1], float("-inf"), dtype=tl.float32)
    total = tl.zeros([1], dtype=tl.float32)
    acc = tl.zeros([D_BLOCK], dtype=tl.float32)
    for split0 in range(0, num_splits, SPLIT_BLOCK):
        splits = split0 + tl.arange(0, SPLIT_BLOCK)
        ok = splits < num_splits
        lse = tl.load(part_lse_ptr + row * num_splits + splits, mask=ok, other=float("-inf"))
        part = tl.load(part_out_ptr + (row * num_splits + splits)[:, None] * HEAD_DIM + d[None, :],
                       mask=ok[:, None], other=0.0)  # (SPLIT_BLOCK, D_BLOCK)
        m_new = tl.maximum(m, tl.max(lse, axis=0))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m - m_safe)
        weight = tl.exp2(lse - m_safe)  # (SPLIT_BLOCK,)
        total = total * alpha + tl.sum(weight, axis=0)
        acc = acc * alpha + tl.sum(weight[:, None] * part, axis=0)
        m = m_new
    out = acc / tl.where(total > 0, total, 1.0)
    tl.store(out_ptr + seq * stride_out_seq + head * stride_out_head + d,
             out.to(out_ptr.dtype.element_ty))


MAX_SPLIT_BLOCK = 256  # splits read in one pass (the decode caps its splits at 128)
MAX_TILE = 4096  # partial elements one program holds (split block x head_dim slice)
MIN_D_BLOCK = 16
TARGET_PROGRAMS = 264  # two per SM of an H100: fewer leave the merge's one round of loads on few SMs


def merge_launch(*, rows: int, heads: int, num_splits: int, head_dim: int) -> dict:
    """(d_block, split_block, num_warps) of a merge: one pass over the splits, head_dim cut into
    slices until a program holds at most MAX_TILE partial elements and, while slices stay at least
    MIN_D_BLOCK wide, the grid has TARGET_PROGRAMS programs."""
    split_block = min(triton.next_power_of_2(num_splits), MAX_SPLIT_BLOCK)
    d_block = head_dim
    while d_block > MIN_D_BLOCK and (
        split_block * d_block > MAX_TILE or rows * heads * (head_dim // d_block) < TARGET_PROGRAMS
    ):
        d_block //= 2
    num_warps = max(1, min(4, split_block * d_block // 512))
    return {"d_block": d_block, "split_block": split_block, "num_warps": num_warps}


def merge_splits(*, part_out: torch.Tensor, part_lse: torch.Tensor, out: torch.Tensor,
                 pdl: bool = False, launch: dict | None = None) -> None:
    """out[r, h] = softmax-weighted sum over splits of part_out[r, h, split] (weights 2**part_lse);
    launch overrides merge_launch's choice (benchmarks)."""
    rows, heads, num_splits, head_dim = part_out.shape
    assert part_out.is_contiguous() and part_lse.is_contiguous() and out.stride(2) == 1
    assert part_out.dtype == part_lse.dtype == torch.float32 and out.shape == (rows, heads, head_dim)
    chosen = merge_launch(rows=rows, heads=heads, num_splits=num_splits, head_dim=head_dim)
    assert launch is None or set(launch) <= set(chosen), f"merge launch keys are {sorted(chosen)}"
    chosen.update(launch or {})
    _merge_splits_kernel[(rows, heads, head_dim // chosen["d_block"])](
        part_out_ptr=part_out, part_lse_ptr=part_lse, out_ptr=out, num_splits=num_splits,
        stride_out_seq=out.stride(0), stride_out_head=out.stride(1),
        HEAD_DIM=head_dim, D_BLOCK=chosen["d_block"], SPLIT_BLOCK=chosen["split_block"], PDL=pdl,
        num_warps=chosen["num_warps"], num_stages=1, **pdl_launch_options(pdl),
    )


def merge_splits_ref(*, part_out: torch.Tensor, part_lse: torch.Tensor, out: torch.Tensor) -> None:
    """merge_splits in plain torch."""
    weight = torch.exp2(part_lse - part_lse.amax(dim=2, keepdim=True).clamp_min(-1e30))  # (R, H, S)
    total = weight.sum(dim=2, keepdim=True)  # (R, H, 1)
    merged = (weight[..., None] * part_out).sum(dim=2) / torch.where(total > 0, total, 1.0)
    out.copy_(merged.to(out.dtype))
