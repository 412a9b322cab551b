"""Where paged decode's time goes on the shapes that decide its targets (12q/2kv 8x16k, every head
layout at 1x32k): the whole call and SDPA; then either the breakdown (its split kernel alone, its
merge alone under several launch shapes, the merge launched plainly, the PDL-chained call, a
read-only kernel that walks the same pages in the same grid: the streaming bound of that access
pattern, and torch.profiler's kernel table) or, with --sweep, the call under tile configurations
and split counts (programs per SM), plain and PDL-chained, or with --chained the PDL-chained call
(as the engine's decode steps launch it) under each launch configuration, split count and
first-tile prefetch. Prints the compiled split kernels' registers, spills and shared memory last.
--once runs the call and the read-only kernel three times each, untimed, for Nsight Compute.

    python benchmarks/decode_probe.py [--sweep | --chained | --once] [--shapes 12x2x8x16384,...]
"""

from __future__ import annotations

import itertools
import sys

import torch
import triton
import triton.language as tl
from decode_shapes import decode_copies, run_shapes, shapes_parser  # benchmarks/ on sys.path
from gpu_timing import steady_ms

import codepager.kernels.paged_decode as decode_module
from codepager.kernels.paged_decode import paged_decode
from codepager.kernels.paged_decode_config import DECODE_CONFIGS, decode_num_splits
from codepager.kernels.paged_layout import PAGE_SIZE
from codepager.kernels.paged_tiles import even_splits
from codepager.kernels.split_merge import merge_splits
from kernels import DTYPE, HEAD_DIM, PagedKV

SHAPES = [(12, 2, 8, 16384), (12, 2, 1, 32768), (28, 4, 1, 32768), (32, 8, 1, 32768)]


@triton.jit
def _read_pages_kernel(k_ptr, v_ptr, table_ptr, out_ptr, entries_per_split, num_entries,
                       stride_table, stride_page, stride_slot, stride_head,
                       HEAD_DIM: tl.constexpr, PAGE_SIZE: tl.constexpr, PAGES_PER_TILE: tl.constexpr):
    seq, kv_head, split = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    first = split * entries_per_split
    end = tl.minimum(first + entries_per_split, num_entries)
    n = tl.arange(0, PAGES_PER_TILE * PAGE_SIZE)
    d = tl.arange(0, HEAD_DIM)
    acc = tl.zeros([PAGES_PER_TILE * PAGE_SIZE, HEAD_DIM], dtype=tl.float32)
    for entry0 in range(first, end, PAGES_PER_TILE):
        entry = entry0 + n // PAGE_SIZE
        ok = entry < end
        page = tl.load(table_ptr + seq * stride_table + entry, mask=ok, other=0).to(tl.int64)
        offs = page * stride_page + (n % PAGE_SIZE) * stride_slot + kv_head * stride_head
        acc += tl.load(k_ptr + offs[:, None] + d[None, :], mask=ok[:, None], other=0.0).to(tl.float32)
        acc += tl.load(v_ptr + offs[:, None] + d[None, :], mask=ok[:, None], other=0.0).to(tl.float32)
    tl.store(out_ptr + (seq * tl.num_programs(1) + kv_head) * tl.num_programs(2) + split, tl.sum(acc))


def read_pages_call(kv: PagedKV, splits: int, ppt: int):
    batch, entries = kv.block_tables.shape
    kv_heads = kv.k_cache.shape[2]
    per_split, splits = even_splits(entries, splits, ppt)
    out = torch.empty(batch * kv_heads * splits, device="cuda", dtype=torch.float32)
    grid = (batch, kv_heads, splits)
    return lambda: _read_pages_kernel[grid](
        kv.k_cache, kv.v_cache, kv.block_tables, out, per_split, entries, kv.block_tables.stride(0),
        kv.k_cache.stride(0), kv.k_cache.stride(1), kv.k_cache.stride(2),
        HEAD_DIM=HEAD_DIM, PAGE_SIZE=PAGE_SIZE, PAGES_PER_TILE=ppt, num_warps=4, num_stages=2)


def split_only(fn):
    """fn with paged_decode's merge launch removed (the split kernel alone)."""
    def call():
        saved = decode_module.merge_splits
        decode_module.merge_splits = lambda **kw: None
        try:
            fn()
        finally:
            decode_module.merge_splits = saved
    return call


def kernel_resources() -> list[str]:
    lines = []
    for kernel in (decode_module._decode_split_kernel,):
        for cache in getattr(kernel, "device_caches", {}).values():
            for compiled in cache[0].values():
                meta = compiled.metadata
                lines.append(f"{kernel.fn.__name__}: regs {compiled.n_regs} spills {compiled.n_spills} "
                             f"shared {meta.shared} warps {meta.num_warps} stages {meta.num_stages}")
    return lines


def breakdown(name, copies, decode, row, batch, hq, entries, default_splits, gen) -> None:
    """The split kernel and the merge apart, launch variants, the read-only bound, the profiler."""
    row("  split kernel alone", steady_ms([split_only(decode(*c)) for c in copies]))
    per_split, splits = even_splits(entries, default_splits, DECODE_CONFIGS["cuda"]["pages_per_tile"])
    part_out = torch.randn(batch, hq, splits, HEAD_DIM, device="cuda", dtype=torch.float32, generator=gen)
    part_lse = torch.randn(batch, hq, splits, device="cuda", dtype=torch.float32, generator=gen)
    out = torch.empty(batch, hq, HEAD_DIM, device="cuda", dtype=DTYPE)
    legacy = {"d_block": 32 if batch * hq < 512 else HEAD_DIM, "num_warps": 4,
              "split_block": min(64, triton.next_power_of_2(splits))}
    for label, launch in [("merge alone, session 5 launch", legacy), ("merge alone, merge_launch", None)] + [
            (f"merge alone, d_block {d}", {"d_block": d}) for d in (16, 32, 64)]:
        row(f"  {label}", steady_ms([lambda launch=launch: merge_splits(
            part_out=part_out, part_lse=part_lse, out=out, launch=launch)]))
    row("  merge launched plainly", steady_ms([decode(*c, config={"merge_pdl": False}) for c in copies]))
    row("  chained by PDL", steady_ms([decode(*c, pdl=True) for c in copies]))
    ppt = DECODE_CONFIGS["cuda"]["pages_per_tile"]
    row("read-only pages, same grid", steady_ms([read_pages_call(c[0], default_splits, ppt) for c in copies]))
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for c in copies[:4]:
            decode(*c)()
            q4 = c[1][:, :, None, :]
            torch.nn.functional.scaled_dot_product_attention(q4, c[0].k, c[0].v, enable_gqa=True)
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=6), flush=True)


def chained_sweep(copies, decode, row, batch, hkv, entries, sm_count) -> None:
    """The PDL-chained call under each launch configuration x programs per SM x prefetch."""
    configs = {name: {k: v for k, v in DECODE_CONFIGS[name].items() if k != "merge_pdl"}
               for name in ("cuda", "cuda_chained")}
    configs["2x4x3"] = {**configs["cuda"], "num_warps": 4}
    configs["2x2x4"] = {**configs["cuda"], "num_stages": 4}
    for (name, config), per_sm, prefetch in itertools.product(configs.items(), [2, 3, 4], [True, False]):
        splits = max(1, min(round(per_sm * sm_count / (batch * hkv)), entries // 4, 256))
        try:
            ms = steady_ms([decode(*c, num_splits=splits, config=config, pdl=True, prefetch=prefetch)
                            for c in copies], rep=100)
        except triton.runtime.errors.OutOfResources:
            continue
        row(f"chained {name} splits={splits} prefetch={prefetch}", ms)


def once(copies, decode, default_splits) -> None:
    """Each call three times, untimed (ncu -k regex:'_decode_split_kernel|_read_pages_kernel')."""
    ppt = DECODE_CONFIGS["cuda"]["pages_per_tile"]
    for fn in (decode(*copies[0]), read_pages_call(copies[0][0], default_splits, ppt)):
        for _ in range(3):
            fn()
    torch.cuda.synchronize()


SWEEP_TILES = [(4, 4, 2), (4, 4, 3), (4, 4, 4), (2, 4, 3), (2, 4, 4), (2, 2, 3)]
SWEEP_PER_SM = [2, 3, 4, 5, 6]


def probe_shape(hq: int, hkv: int, batch: int, length: int, copy_bw: float, gen, mode: str,
                tiles: list = SWEEP_TILES, per_sms: list = SWEEP_PER_SM) -> None:
    copies = decode_copies(hq, hkv, batch, length, gen)
    kv0 = copies[0][0]
    gb = kv0.bytes
    name = f"{hq}q/{hkv}kv {batch}x{length // 1024}k"
    entries = kv0.block_tables.shape[1]
    sm_count = torch.cuda.get_device_properties(0).multi_processor_count
    default_splits = decode_num_splits(num_seqs=batch, num_kv_heads=hkv, num_entries=entries,
                                       sm_count=sm_count)

    def row(label, ms):
        bw = gb / (ms * 1e-3)
        print(f"{name:22s} {label:44s} {ms * 1e3:8.2f} us {bw / 1e9:7.0f} GB/s "
              f"{100 * bw / copy_bw:6.1f} % copy", flush=True)
        return ms

    def decode(kv, q, **kw):
        return lambda: paged_decode(q=q, **kw, **kv.layout())

    if mode == "once":
        once(copies, decode, default_splits)
        return
    base = row(f"paged_decode splits={default_splits}", steady_ms([decode(*c) for c in copies]))
    sdpa = row("SDPA", steady_ms([
        (lambda kv, q: lambda: torch.nn.functional.scaled_dot_product_attention(
            q[:, :, None, :], kv.k, kv.v, enable_gqa=True))(*c) for c in copies]))
    print(f"{name:22s} SDPA/paged {sdpa / base:.3f}", flush=True)
    if mode == "chained":
        row("PDL, shipped", steady_ms([decode(*c, pdl=True) for c in copies]))
        chained_sweep(copies, decode, row, batch, hkv, entries, sm_count)
        return
    if mode == "breakdown":
        breakdown(name, copies, decode, row, batch, hq, entries, default_splits, gen)
        return
    row("PDL", steady_ms([decode(*c, pdl=True) for c in copies]))
    tries = []
    for (ppt, warps, stages), per_sm, pdl in itertools.product(tiles, per_sms, [False, True]):
        if pdl and per_sm not in (3, 4):
            continue
        wanted = max(1, min(round(per_sm * sm_count / (batch * hkv)), entries // ppt, 128 if pdl else 256))
        tries.append((wanted, {"pages_per_tile": ppt, "num_warps": warps, "num_stages": stages,
                               "table_ahead": 256}, pdl))
    for splits_try, config, pdl in tries:
        try:
            fns = [decode(*c, num_splits=splits_try, config=config, pdl=pdl) for c in copies]
            ms = steady_ms(fns, rep=100)
        except triton.runtime.errors.OutOfResources:
            continue
        row(f"sweep{' PDL' if pdl else ''} splits={splits_try} {config}", ms)


def main(argv: list[str] | None = None) -> int:
    parser = shapes_parser(__doc__)
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--sweep", action="store_true")
    modes.add_argument("--chained", action="store_true")
    modes.add_argument("--once", action="store_true")
    parser.add_argument("--tiles", help="--sweep's comma-separated PAGESxWARPSxSTAGES")
    parser.add_argument("--per-sm", help="--sweep's comma-separated programs per SM")
    args = parser.parse_args(argv)
    tiles = SWEEP_TILES
    if args.tiles:
        tiles = [tuple(int(x) for x in t.split("x")) for t in args.tiles.split(",")]
    per_sms = [int(x) for x in args.per_sm.split(",")] if args.per_sm else SWEEP_PER_SM
    mode = "sweep" if args.sweep else "chained" if args.chained else "once" if args.once else "breakdown"
    status = run_shapes(args.shapes, SHAPES, lambda shape, copy_bw, gen: probe_shape(
        *shape, copy_bw, gen, mode, tiles, per_sms))
    if status == 0:
        print("\n".join(kernel_resources()))
    return status


if __name__ == "__main__":
    sys.exit(main())
