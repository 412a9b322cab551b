"""When each program of a paged decode call runs: every split program and merge program stamps the
GPU's global timer (%globaltimer, ns) at its start and end and its SM (%smid), inside the same CUDA
graph of back-to-back calls the kernel benchmark times. Printed per shape: the call's period, the
spread of the split programs' starts and ends, their durations, when the merge's programs saw the
split kernel complete and when they ended, and the same for kernels that only read the pages (per
kv head in the decode's grid, both kv heads of a page in one program, or contiguous K/V) — the
part of the call that is ramp, streaming, tail and merge.

    python benchmarks/decode_timeline.py [--shapes 12x2x8x16384,...] [--splits N] [--config JSON]
        [--save PATH] [--no-reads]
"""

from __future__ import annotations

import functools
import json
import statistics
import sys

import torch
import triton
import triton.language as tl
from decode_shapes import decode_copies, run_shapes, shapes_parser  # benchmarks/ on sys.path
from gpu_timing import steady_ms

import codepager.kernels.paged_decode as decode_module
import codepager.kernels.split_merge as merge_module
from codepager.kernels.paged_decode import paged_decode
from codepager.kernels.paged_decode_config import decode_num_splits
from codepager.kernels.paged_layout import PAGE_SIZE
from codepager.kernels.paged_tiles import even_splits
from codepager.kernels.pdl import gdc_wait
from kernels import HEAD_DIM, PagedKV

SHAPES = [(12, 2, 8, 16384), (32, 8, 1, 32768)]
SPLIT_KERNEL = decode_module._decode_split_kernel  # the stamped copies wrap these while they stand
MERGE_KERNEL = merge_module._merge_splits_kernel  # in for them in their modules
STAMP = 4  # int64 per program: start ns, (merge: wait returned ns), end ns, SM


@triton.jit
def _now():
    return tl.inline_asm_elementwise("mov.u64 $0, %globaltimer;", "=l", [], dtype=tl.int64, is_pure=False,
                                     pack=1)


@triton.jit
def _stamp(stamps_ptr, start, middle):
    pid = tl.program_id(0) + tl.num_programs(0) * (tl.program_id(1) + tl.num_programs(1) * tl.program_id(2))
    end = _now()
    sm = tl.inline_asm_elementwise("mov.u32 $0, %smid;", "=r", [], dtype=tl.int32, is_pure=False, pack=1)
    row = stamps_ptr + pid.to(tl.int64) * 4
    tl.store(row, start)
    tl.store(row + 1, middle)
    tl.store(row + 2, end)
    tl.store(row + 3, sm.to(tl.int64))


@triton.jit
def _stamped_split_kernel(
    stamps_ptr, q_ptr, k_ptr, v_ptr, table_ptr, lens_ptr, shifts_ptr, inv_freq_ptr, part_out_ptr,
    part_lse_ptr, scale_log2, num_entries, entries_per_split, num_splits, num_q_heads,
    stride_q_seq, stride_q_head, stride_k_page, stride_k_slot, stride_k_head,
    stride_v_page, stride_v_slot, stride_v_head, stride_table_seq,
    GROUP: tl.constexpr, BLOCK_H: tl.constexpr, ROW_BLOCKS: tl.constexpr, HEAD_DIM: tl.constexpr,
    PAGE_SIZE: tl.constexpr, PAGES_PER_TILE: tl.constexpr, HAS_SHIFT: tl.constexpr,
    DOT_PRECISION: tl.constexpr, PDL: tl.constexpr, PREFETCH: tl.constexpr, RELEASE_MERGE: tl.constexpr,
    SPLIT_ENTRIES: tl.constexpr,
):
    start = _now()
    SPLIT_KERNEL(
        q_ptr, k_ptr, v_ptr, table_ptr, lens_ptr, shifts_ptr, inv_freq_ptr, part_out_ptr, part_lse_ptr,
        scale_log2, num_entries, entries_per_split, num_splits, num_q_heads, stride_q_seq, stride_q_head,
        stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot, stride_v_head,
        stride_table_seq, GROUP, BLOCK_H, ROW_BLOCKS, HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, HAS_SHIFT,
        DOT_PRECISION, PDL, PREFETCH, RELEASE_MERGE, SPLIT_ENTRIES)
    _stamp(stamps_ptr, start, start)


@triton.jit
def _stamped_merge_kernel(
    stamps_ptr, part_out_ptr, part_lse_ptr, out_ptr, num_splits, stride_out_seq, stride_out_head,
    HEAD_DIM: tl.constexpr, D_BLOCK: tl.constexpr, SPLIT_BLOCK: tl.constexpr, PDL: tl.constexpr,
):
    start = _now()
    if PDL:
        gdc_wait()
    waited = _now()
    MERGE_KERNEL(part_out_ptr, part_lse_ptr, out_ptr, num_splits, stride_out_seq,
                                      stride_out_head, HEAD_DIM, D_BLOCK, SPLIT_BLOCK, PDL)
    _stamp(stamps_ptr, start, waited)


@triton.jit
def _stamped_read_kernel(
    stamps_ptr, k_ptr, v_ptr, table_ptr, out_ptr, entries_per_split, num_entries, context,
    stride_table, stride_page, stride_slot, stride_head,
    HEADS: tl.constexpr, HEAD_DIM: tl.constexpr, PAGE_SIZE: tl.constexpr, PAGES_PER_TILE: tl.constexpr,
    SPLIT_ENTRIES: tl.constexpr, CONTIGUOUS: tl.constexpr,
):
    """Sums a split's keys and values (HEADS kv heads from program_id(1) * HEADS), its table range in
    registers first as the decode kernel does; CONTIGUOUS reads [B, Hkv, L, D] K/V instead. The sums
    are dots with ones: Triton's pipeliner multi-buffers only loads that feed a dot."""
    start = _now()
    seq, head_block, split = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    first = split * entries_per_split
    length = tl.minimum(first + entries_per_split, num_entries) - first
    e = tl.arange(0, SPLIT_ENTRIES)
    pages = tl.load(table_ptr + seq * stride_table + first + e, mask=e < length, other=0)
    n = tl.arange(0, PAGES_PER_TILE * PAGE_SIZE)
    cols = tl.arange(0, HEADS * HEAD_DIM)
    ones = tl.full([16, PAGES_PER_TILE * PAGE_SIZE], 1.0, dtype=k_ptr.dtype.element_ty)
    acc = tl.zeros([16, HEADS * HEAD_DIM], dtype=tl.float32)
    for tile_first in range(0, length, PAGES_PER_TILE):
        local = tile_first + n // PAGE_SIZE
        ok = local < length
        if CONTIGUOUS:
            token = (first + local) * PAGE_SIZE + n % PAGE_SIZE
            offs = ((seq * tl.num_programs(1) + head_block).to(tl.int64) * context + token) * HEAD_DIM
        else:
            page = tl.gather(pages, tl.minimum(local, SPLIT_ENTRIES - 1), axis=0).to(tl.int64)
            offs = page * stride_page + (n % PAGE_SIZE) * stride_slot + head_block * HEADS * stride_head
        k = tl.load(k_ptr + offs[:, None] + cols[None, :], mask=ok[:, None], other=0.0)
        v = tl.load(v_ptr + offs[:, None] + cols[None, :], mask=ok[:, None], other=0.0)
        acc = tl.dot(ones, k, acc)
        acc = tl.dot(ones, v, acc)
    tl.store(out_ptr + (seq * tl.num_programs(1) + head_block) * tl.num_programs(2) + split, tl.sum(acc))
    _stamp(stamps_ptr, start, start)


class _Stamped:
    """Stands in for a kernel object in its module: kernel[grid](**kw) launches the stamped copy."""

    def __init__(self, kernel, stamps: torch.Tensor) -> None:
        self.kernel, self.stamps = kernel, stamps

    def __getitem__(self, grid):
        return lambda **kw: self.kernel[grid](stamps_ptr=self.stamps, **kw)


def read_call(kv: PagedKV, splits: int, heads: int, contiguous: bool):
    """The read-only kernel over kv's pages (or contiguous K/V) in splits x (kv heads / heads)
    programs per sequence: a function of its stamps buffer."""
    batch, entries = kv.block_tables.shape
    kv_heads = kv.k_cache.shape[2]
    per_split, splits = even_splits(entries, splits, 2)
    out = torch.empty(batch * kv_heads * splits, device="cuda", dtype=torch.float32)
    k, v = (kv.k, kv.v) if contiguous else (kv.k_cache, kv.v_cache)
    grid = (batch, kv_heads // heads, splits)
    return lambda stamps: _stamped_read_kernel[grid](
        stamps, k, v, kv.block_tables, out, per_split, entries, kv.k.shape[2],
        kv.block_tables.stride(0), kv.k_cache.stride(0), kv.k_cache.stride(1), kv.k_cache.stride(2),
        HEADS=heads, HEAD_DIM=HEAD_DIM, PAGE_SIZE=PAGE_SIZE, PAGES_PER_TILE=2,
        SPLIT_ENTRIES=triton.next_power_of_2(per_split), CONTIGUOUS=contiguous, num_warps=2, num_stages=3)


def stamped_run(calls: list, programs: int, merge_programs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Replays one graph of the calls (each call(split_stamps, merge_stamps), buffers of at least as
    many rows as programs); their stamps, rows of programs that did not run left out."""
    split_stamps = torch.zeros(len(calls), programs, STAMP, device="cuda", dtype=torch.int64)
    merge_stamps = torch.zeros(len(calls), max(merge_programs, 1), STAMP, device="cuda", dtype=torch.int64)
    for i, call in enumerate(calls):  # compile and warm up outside the capture
        call(split_stamps[i], merge_stamps[i])
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for i, call in enumerate(calls):
            call(split_stamps[i], merge_stamps[i])
    for _ in range(3):
        graph.replay()
    torch.cuda.synchronize()
    return tuple(stamps[:, stamps[0, :, 2] > 0].cpu() for stamps in (split_stamps, merge_stamps))


def describe(label: str, split: torch.Tensor, merge: torch.Tensor | None) -> None:
    """Medians over the calls (the first and last left out) of the call's timeline, µs from the
    first split program's start."""
    rows = []
    for c in range(1, split.shape[0] - 1):
        t0 = int(split[c, :, 0].min())
        start = (split[c, :, 0] - t0).double() / 1e3
        end = (split[c, :, 2] - t0).double() / 1e3
        dur = end - start
        row = {"period": (int(split[c + 1, :, 0].min()) - t0) / 1e3, "start p50": start.median(),
               "start max": start.max(), "end min": end.min(), "end p10": end.quantile(0.1),
               "end p50": end.median(), "end p90": end.quantile(0.9), "end max": end.max(),
               "dur min": dur.min(), "dur p50": dur.median(), "dur max": dur.max()}
        if merge is not None:
            row["merge waited"] = (merge[c, :, 1] - t0).double().max() / 1e3
            row["merge end"] = (merge[c, :, 2] - t0).double().max() / 1e3
        rows.append(row)
    med = {key: statistics.median(float(r[key]) for r in rows) for key in rows[0]}
    print(f"  {label:34s} " + " ".join(f"{k} {v:6.2f}" for k, v in med.items()), flush=True)
    c = split.shape[0] // 2
    sms = split[c, :, 3]
    per_sm = torch.bincount(sms, minlength=int(sms.max()) + 1)
    t0 = int(split[c, :, 0].min())
    ends = ((split[c, :, 2] - t0).double() / 1e3)
    alone = per_sm[sms] == 1
    if alone.any() and (~alone).any():
        print(f"  {'':34s} programs per SM {torch.bincount(per_sm).tolist()}; end p50 alone on an SM "
              f"{ends[alone].median():.2f}, sharing {ends[~alone].median():.2f}", flush=True)
    tick = torch.diff(torch.unique(split[:, :, 0].flatten()))
    print(f"  {'':34s} timer step {int(tick[tick > 0].min()) if (tick > 0).any() else 0} ns; last ends "
          f"(µs) {[round(float(x), 2) for x in ends.sort().values[-8:]]}", flush=True)


def probe(hq: int, hkv: int, batch: int, length: int, splits: int | None, copy_bw: float, gen,
          config: dict | None = None, save: str | None = None, reads: bool = True) -> None:
    copies = decode_copies(hq, hkv, batch, length, gen)
    kv0 = copies[0][0]
    entries = kv0.block_tables.shape[1]
    sm_count = torch.cuda.get_device_properties(0).multi_processor_count
    splits = splits or decode_num_splits(num_seqs=batch, num_kv_heads=hkv, num_entries=entries,
                                         sm_count=sm_count)
    name = f"{hq}q/{hkv}kv {batch}x{length // 1024}k splits={splits} {config or ''}"
    calls = [copies[i % len(copies)] for i in range(max(8, len(copies)))]

    def pct(ms):
        return f"{ms * 1e3:7.2f} us {100 * kv0.bytes / (ms * 1e-3) / copy_bw:5.1f} % copy"

    def decode(kv, q):
        return lambda: paged_decode(q=q, num_splits=splits, config=config, **kv.layout())

    print(f"{name}: call {pct(steady_ms([decode(*c) for c in copies]))}", flush=True)
    saved = decode_module._decode_split_kernel, merge_module._merge_splits_kernel

    def stamped(kv, q):
        def call(split_stamps, merge_stamps):
            decode_module._decode_split_kernel = _Stamped(_stamped_split_kernel, split_stamps)
            merge_module._merge_splits_kernel = _Stamped(_stamped_merge_kernel, merge_stamps)
            try:
                paged_decode(q=q, num_splits=splits, config=config, **kv.layout())
            finally:
                decode_module._decode_split_kernel, merge_module._merge_splits_kernel = saved
        return call

    programs = batch * hq * splits  # at most: rounding to whole tiles never adds splits
    merge_programs = batch * hq * (HEAD_DIM // 16)  # at most: slices of >= 16
    scratch = torch.zeros(programs, STAMP, device="cuda", dtype=torch.int64)
    merge_scratch = torch.zeros(merge_programs, STAMP, device="cuda", dtype=torch.int64)
    ms = steady_ms([functools.partial(stamped(*c), scratch, merge_scratch) for c in copies])
    print(f"  stamped call {pct(ms)}", flush=True)
    split_stamps, merge_stamps = stamped_run([stamped(*c) for c in calls], programs, merge_programs)
    describe("decode (split + merge)", split_stamps, merge_stamps)
    if save:
        torch.save({"split": split_stamps, "merge": merge_stamps}, save)
    if not reads:
        return
    read_kinds = [("read pages, per kv head", 1, False), ("read pages, both kv heads", 2, False),
                  ("read contiguous, per kv head", 1, True)]
    for label, heads, contiguous in read_kinds:
        if heads > hkv:
            continue
        fns = [read_call(c[0], splits * heads, heads, contiguous) for c in copies]
        ms = steady_ms([functools.partial(f, scratch) for f in fns])
        print(f"  {label}: {pct(ms)}", flush=True)
        stamps, _ = stamped_run([(lambda s, m, f=fns[i % len(fns)]: f(s)) for i in range(len(calls))],
                                programs, 0)
        describe(label, stamps, None)


def main(argv: list[str] | None = None) -> int:
    parser = shapes_parser(__doc__)
    parser.add_argument("--splits", type=int, help="split count (default: the decode's heuristic)")
    parser.add_argument("--config", type=json.loads, help="decode launch configuration (JSON, keys as in "
                        "paged_decode_config.DECODE_CONFIGS)")
    parser.add_argument("--save", help="torch.save the decode's stamps of the last shape here")
    parser.add_argument("--no-reads", action="store_true", help="the decode call only")
    args = parser.parse_args(argv)
    return run_shapes(args.shapes, SHAPES, lambda shape, copy_bw, gen: probe(
        *shape, args.splits, copy_bw, gen, args.config, args.save, not args.no_reads))


if __name__ == "__main__":
    sys.exit(main())
