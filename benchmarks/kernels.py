"""Paged-attention kernels on a GPU against the memory-bandwidth limit and against
torch.nn.functional.scaled_dot_product_attention(enable_gqa=True) on the same KV stored contiguously.

One run prints one markdown table per kernel: decode (time, KV bytes read / time, that as a share
of the device-to-device copy bandwidth measured in the same run, SDPA's time and bandwidth) and
extend (time, TFLOP/s, SDPA's time). Every kernel is timed in steady state, as an engine runs it
layer after layer: a CUDA graph of back-to-back calls cycling over enough copies of the inputs
that they cannot stay in the 50 MB L2 (at least 4x its size), timed with
triton.testing.do_bench (median), divided by the calls per graph. (do_bench alone flushes L2 by
writing 256 MB before each call; the dirty lines it leaves are written back during the timed
call, which charges small kernels for traffic that is not theirs.) Decode is timed twice: launched
plainly, and chained by programmatic dependent launch (PDL ms), as the engine's CUDA decode step
runs it between its PDL-chained neighbours.

    python benchmarks/kernels.py [--sweep] [--splits] [--profile] [--markdown PATH] [--once]
"""

from __future__ import annotations

import argparse
import itertools
import sys

import torch
import torch.nn.functional as F
import triton
from gpu_timing import copies_needed, copy_bandwidth, markdown, report, steady_ms  # benchmarks/ on sys.path

import codepager.kernels.paged_decode_config as decode_config
from codepager.kernels.paged_decode import paged_decode
from codepager.kernels.paged_decode_config import decode_num_splits
from codepager.kernels.paged_extend import EXTEND_CONFIGS, paged_extend
from codepager.kernels.paged_layout import PAGE_SIZE

HEAD_LAYOUTS = [(12, 2), (28, 4), (32, 8)]
DECODE_SHAPES = [(1, 4096), (1, 32768), (8, 16384), (64, 4096)]
EXTEND_NEW = [512, 2048]
CACHED = 16384
HEAD_DIM = 128
DTYPE = torch.bfloat16


HEAD_MAJOR = False  # --head-major: pages stored [page, head, slot, D], seen through a transposed view
DECODE_CONFIG = None  # --merge-plain: {"merge_pdl": False}


def empty_cache(num_pages: int, kv_heads: int) -> torch.Tensor:
    """[num_pages, PAGE_SIZE, kv_heads, D]: slot-major storage, or a view of head-major storage."""
    if HEAD_MAJOR:
        storage = torch.empty(num_pages, kv_heads, PAGE_SIZE, HEAD_DIM, device="cuda", dtype=DTYPE)
        return storage.transpose(1, 2)
    return torch.empty(num_pages, PAGE_SIZE, kv_heads, HEAD_DIM, device="cuda", dtype=DTYPE)


class PagedKV:
    """The same random K/V twice: contiguous [B, Hkv, L, D] for SDPA, and scattered over randomly
    ordered pages with full block tables for the paged kernels."""

    def __init__(self, batch: int, length: int, kv_heads: int, gen: torch.Generator) -> None:
        shape = (batch, kv_heads, length, HEAD_DIM)
        self.k = torch.randn(shape, device="cuda", dtype=DTYPE, generator=gen)
        self.v = torch.randn(shape, device="cuda", dtype=DTYPE, generator=gen)
        pages_per_seq = length // PAGE_SIZE
        num_pages = batch * pages_per_seq
        order = torch.randperm(num_pages, device="cuda", generator=gen)
        self.k_cache = empty_cache(num_pages, kv_heads)
        self.v_cache = empty_cache(num_pages, kv_heads)
        # (B, Hkv, L, D) -> (B * pages, 16, Hkv, D) in logical order, then scattered
        self.k_cache[order] = self.k.permute(0, 2, 1, 3).reshape(num_pages, PAGE_SIZE, kv_heads, HEAD_DIM)
        self.v_cache[order] = self.v.permute(0, 2, 1, 3).reshape(num_pages, PAGE_SIZE, kv_heads, HEAD_DIM)
        self.block_tables = order.view(batch, pages_per_seq).to(torch.int32)
        entry = torch.arange(pages_per_seq, device="cuda", dtype=torch.int32)
        self.page_starts = (entry * PAGE_SIZE).expand(batch, -1).contiguous()
        self.page_lens = torch.full_like(self.page_starts, PAGE_SIZE)
        self.bytes = 2 * self.k.numel() * self.k.element_size()

    def layout(self) -> dict:
        return dict(k_cache=self.k_cache, v_cache=self.v_cache, block_tables=self.block_tables,
                    page_starts=self.page_starts, page_lens=self.page_lens, page_shifts=None,
                    rope_inv_freq=None, scale=HEAD_DIM**-0.5)


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out.float() - ref.float()).norm() / ref.float().norm())


def decode_row(q_heads: int, kv_heads: int, batch: int, length: int, copy_bw: float, gen,
               with_sdpa: bool = True, num_splits: int | None = None, config: dict | None = None) -> dict:
    copies = []
    for _ in range(copies_needed(batch * length * kv_heads * HEAD_DIM * 4)):
        kv = PagedKV(batch, length, kv_heads, gen)
        q = torch.randn(batch, q_heads, HEAD_DIM, device="cuda", dtype=DTYPE, generator=gen)
        copies.append((kv, q))

    def paged_call(kv, q, pdl=False):
        return lambda: paged_decode(q=q, num_splits=num_splits, config=config or DECODE_CONFIG, pdl=pdl,
                                    **kv.layout())

    def sdpa_call(kv, q):
        q4 = q[:, :, None, :]  # (B, Hq, 1, D)
        return lambda: F.scaled_dot_product_attention(q4, kv.k, kv.v, enable_gqa=True)

    kv, q = copies[0]
    err = relative_error(paged_call(kv, q)(), sdpa_call(kv, q)()[:, :, 0])
    ms = steady_ms([paged_call(*c) for c in copies])
    # as the engine's decode step runs it: both kernels chained to their neighbours by PDL
    pdl_ms = steady_ms([paged_call(*c, pdl=True) for c in copies]) if with_sdpa else float("nan")
    sdpa_ms = steady_ms([sdpa_call(*c) for c in copies]) if with_sdpa else float("nan")
    splits, pdl_splits = (num_splits or decode_num_splits(
        num_seqs=batch, num_kv_heads=kv_heads, num_entries=kv.block_tables.shape[1],
        sm_count=torch.cuda.get_device_properties(0).multi_processor_count, chained=chained)
        for chained in (False, True))
    bw, pdl_bw = kv.bytes / (ms * 1e-3), kv.bytes / (pdl_ms * 1e-3)
    return {"heads": f"{q_heads}q/{kv_heads}kv", "shape": f"{batch}x{length // 1024}k", "splits": splits,
            "ms": ms, "GB/s": bw / 1e9, "% copy": 100 * bw / copy_bw, "PDL splits": pdl_splits,
            "PDL ms": pdl_ms,
            "PDL % copy": 100 * pdl_bw / copy_bw, "sdpa ms": sdpa_ms,
            "sdpa GB/s": kv.bytes / (sdpa_ms * 1e-3) / 1e9, "sdpa/paged": sdpa_ms / ms,
            "sdpa/paged PDL": sdpa_ms / pdl_ms, "rel err": err}


def causal_lower_right_sdpa(q4, k, v):
    from torch.nn.attention.bias import causal_lower_right

    mask = causal_lower_right(q4.shape[2], k.shape[2])
    return F.scaled_dot_product_attention(q4, k, v, attn_mask=mask, enable_gqa=True)


def extend_inputs(q_heads: int, kv_heads: int, new: int, gen) -> tuple:
    """(cu_seqlens_q, q_positions, [(PagedKV, q)] copies) for one sequence of `new` tokens over
    CACHED cached ones."""
    length = CACHED + new
    cu = torch.tensor([0, new], device="cuda", dtype=torch.int32)
    positions = torch.arange(CACHED, length, device="cuda", dtype=torch.int32)
    copies = []
    for _ in range(copies_needed(length * kv_heads * HEAD_DIM * 4)):
        kv = PagedKV(1, length, kv_heads, gen)
        q = torch.randn(new, q_heads, HEAD_DIM, device="cuda", dtype=DTYPE, generator=gen)
        copies.append((kv, q))
    return cu, positions, copies


def extend_row(q_heads: int, kv_heads: int, new: int, gen, config: dict | None = None,
               with_sdpa: bool = True, num_splits: int | None = None) -> dict:
    cu, positions, copies = extend_inputs(q_heads, kv_heads, new, gen)

    def paged_call(kv, q):
        return lambda: paged_extend(q=q, cu_seqlens_q=cu, q_positions=positions, max_seqlen_q=new,
                                    config=config, num_splits=num_splits, **kv.layout())

    def sdpa_call(kv, q):
        q4 = q.transpose(0, 1)[None].contiguous()  # (1, Hq, new, D)
        return lambda: causal_lower_right_sdpa(q4, kv.k, kv.v)

    kv, q = copies[0]
    err = relative_error(paged_call(kv, q)(), sdpa_call(kv, q)()[0].transpose(0, 1))
    ms = steady_ms([paged_call(*c) for c in copies])
    sdpa_ms = steady_ms([sdpa_call(*c) for c in copies]) if with_sdpa else float("nan")
    flops = 4 * q_heads * HEAD_DIM * new * (CACHED + (new + 1) / 2)
    return {"heads": f"{q_heads}q/{kv_heads}kv", "shape": f"{new} new over {CACHED // 1024}k",
            "ms": ms, "TFLOP/s": flops / (ms * 1e-3) / 1e12, "sdpa ms": sdpa_ms,
            "sdpa TFLOP/s": flops / (sdpa_ms * 1e-3) / 1e12, "paged/sdpa": ms / sdpa_ms, "rel err": err}


def sweep(gen) -> None:
    """Split counts of decode and tile configurations x split counts of extend, on the shapes
    that decide the targets."""
    decode_configs = [{"pages_per_tile": ppt, "num_warps": warps, "num_stages": stages}
                      for ppt, warps, stages in itertools.product([2, 4, 8], [2, 4, 8], [2, 3, 4])
                      if ppt * PAGE_SIZE >= 8 * warps]
    for (hq, hkv, b, length), config, splits in itertools.product(
        [(12, 2, 1, 32768), (12, 2, 8, 16384)], decode_configs, [None],
    ):
        try:
            row = decode_row(hq, hkv, b, length, 1.0, gen, with_sdpa=False, num_splits=splits, config=config)
        except triton.runtime.errors.OutOfResources:
            continue
        print(f"sweep decode {row['heads']} {row['shape']} {config} splits={row['splits']}: "
              f"{row['ms'] * 1e3:.1f} us {row['GB/s']:.0f} GB/s", flush=True)
    configs = [(128, 8, 8, 3), (128, 4, 8, 3), (64, 4, 4, 2)]
    for (hq, hkv, new), (block_m, ppt, warps, stages), splits in itertools.product(
        [(12, 2, 512), (32, 8, 512), (32, 8, 2048)], configs, [None, 1, 2, 4],
    ):
        cfg = {"block_m": block_m, "pages_per_tile": ppt, "num_warps": warps, "num_stages": stages}
        row = extend_row(hq, hkv, new, gen, config=cfg, with_sdpa=False, num_splits=splits)
        print(f"sweep extend {row['heads']} {row['shape']} {block_m},{ppt},{warps},{stages} "
              f"splits={splits}: {row['ms'] * 1e3:.1f} us {row['TFLOP/s']:.0f} TFLOP/s", flush=True)


def split_sweep(gen) -> None:
    """Decode split counts on the batch-1 and few-head shapes, where the split-K fan-out decides."""
    for (hq, hkv, b, length), splits in itertools.product(
        [(12, 2, 1, 32768), (12, 2, 8, 16384), (12, 2, 1, 16384), (12, 2, 1, 4096)],
        [None, 16, 33, 64, 96, 128, 192, 256],
    ):
        row = decode_row(hq, hkv, b, length, 1.0, gen, with_sdpa=False, num_splits=splits)
        print(f"splits decode {row['heads']} {row['shape']} splits={row['splits']}: "
              f"{row['ms'] * 1e3:.1f} us {row['GB/s']:.0f} GB/s", flush=True)


def extend_split_sweep(gen) -> None:
    """Extend split counts on the short-chunk shapes (SDPA once per shape), the heuristic's first."""
    for hq, hkv, new in [(12, 2, 512), (28, 4, 512), (32, 8, 512), (12, 2, 2048), (28, 4, 2048),
                         (32, 8, 2048)]:
        base = extend_row(hq, hkv, new, gen)
        print(f"extend splits {base['heads']} {base['shape']} heuristic: {base['ms'] * 1e3:.1f} us, "
              f"SDPA {base['sdpa ms'] * 1e3:.1f} us, paged/sdpa {base['paged/sdpa']:.3f}", flush=True)
        for splits in range(1, 11):
            row = extend_row(hq, hkv, new, gen, with_sdpa=False, num_splits=splits)
            print(f"extend splits {row['heads']} {row['shape']} splits={splits}: {row['ms'] * 1e3:.1f} us, "
                  f"paged/sdpa {row['ms'] / base['sdpa ms']:.3f}", flush=True)


def profile(gen) -> None:
    """Kernel-level view of one decode step and one extend from torch.profiler."""
    kv = PagedKV(8, 16384, 8, gen)
    q = torch.randn(8, 32, HEAD_DIM, device="cuda", dtype=DTYPE, generator=gen)
    kv_extend = PagedKV(1, CACHED + 512, 2, gen)
    q_extend = torch.randn(512, 12, HEAD_DIM, device="cuda", dtype=DTYPE, generator=gen)
    cu = torch.tensor([0, 512], device="cuda", dtype=torch.int32)
    positions = torch.arange(CACHED, CACHED + 512, device="cuda", dtype=torch.int32)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(20):
            paged_decode(q=q, **kv.layout())
            paged_extend(q=q_extend, cu_seqlens_q=cu, q_positions=positions, max_seqlen_q=512,
                         **kv_extend.layout())
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=8))


def run_once(gen) -> None:
    """Three calls of each kernel on one shape, for `ncu --launch-skip 2 --launch-count 1`."""
    kv = PagedKV(8, 16384, 8, gen)
    q = torch.randn(8, 32, HEAD_DIM, device="cuda", dtype=DTYPE, generator=gen)
    kv_extend = PagedKV(1, CACHED + 2048, 8, gen)
    q_extend = torch.randn(2048, 32, HEAD_DIM, device="cuda", dtype=DTYPE, generator=gen)
    cu = torch.tensor([0, 2048], device="cuda", dtype=torch.int32)
    positions = torch.arange(CACHED, CACHED + 2048, device="cuda", dtype=torch.int32)
    for _ in range(3):
        paged_decode(q=q, **kv.layout())
        paged_extend(q=q_extend, cu_seqlens_q=cu, q_positions=positions, max_seqlen_q=2048,
                     **kv_extend.layout())
    torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="also time tile configurations")
    parser.add_argument("--splits", action="store_true", help="also time decode split counts")
    parser.add_argument("--profile", action="store_true", help="also print torch.profiler's kernel table")
    parser.add_argument("--extend-splits", action="store_true", help="only time extend split counts")
    parser.add_argument("--markdown", help="write the tables to this file too")
    parser.add_argument("--once", action="store_true", help="only run each kernel 3 times (for ncu)")
    parser.add_argument("--decode-only", action="store_true", help="skip the extend table")
    parser.add_argument("--split-target", type=int, nargs=3, metavar=("PER_SM", "RESIDENT", "MAX"),
                        help="plain decode's split heuristic: programs per SM aimed at, resident, "
                             "most splits (A/B)")
    parser.add_argument("--merge-plain", action="store_true",
                        help="launch the decode merge plainly, not as a programmatic dependent")
    parser.add_argument("--head-major", action="store_true",
                        help="store each page head-major ([page, head, slot, D]; the engine is slot-major)")
    args = parser.parse_args(argv)
    global HEAD_MAJOR, DECODE_CONFIG
    HEAD_MAJOR = args.head_major
    DECODE_CONFIG = {"merge_pdl": False} if args.merge_plain else None
    if args.split_target:
        decode_config.SPLIT_TARGETS[False] = tuple(args.split_target)
    if not torch.cuda.is_available():
        print("needs a CUDA GPU", file=sys.stderr)
        return 1
    gen = torch.Generator(device="cuda").manual_seed(0)
    if args.once:
        run_once(gen)
        return 0
    if args.extend_splits:
        extend_split_sweep(gen)
        return 0
    props = torch.cuda.get_device_properties(0)
    header = (f"{props.name}, {props.multi_processor_count} SMs, torch {torch.__version__}, "
              f"triton {triton.__version__}, {str(DTYPE).removeprefix('torch.')}, head_dim {HEAD_DIM}, "
              f"{'head' if HEAD_MAJOR else 'slot'}-major pages, decode split targets (programs per SM, "
              f"most splits) plain / PDL {decode_config.SPLIT_TARGETS[False]} / "
              f"{decode_config.SPLIT_TARGETS[True]}, decode merge launched "
              f"{'plainly' if DECODE_CONFIG else 'as a PDL dependent'}")
    print(header, flush=True)
    if args.sweep:
        sweep(gen)
    if args.splits:
        split_sweep(gen)
    if args.profile:
        profile(gen)
    copy_bw = copy_bandwidth()
    print(f"device-to-device copy: {copy_bw / 1e9:.0f} GB/s (read + written)", flush=True)
    decode_rows = []
    for (hq, hkv), (b, length) in itertools.product(HEAD_LAYOUTS, DECODE_SHAPES):
        decode_rows.append(decode_row(hq, hkv, b, length, copy_bw, gen))
        print(decode_rows[-1], flush=True)
    extend_rows = []
    for (hq, hkv), new in itertools.product(HEAD_LAYOUTS, [] if args.decode_only else EXTEND_NEW):
        extend_rows.append(extend_row(hq, hkv, new, gen))
        print(extend_rows[-1], flush=True)
    text = (f"{header}\n\ndevice-to-device copy: {copy_bw / 1e9:.0f} GB/s (read + written)\n\n"
            f"decode\n\n{markdown(decode_rows)}\n")
    if extend_rows:
        text += f"\nextend (config {EXTEND_CONFIGS['cuda']})\n\n{markdown(extend_rows)}\n"
    report(text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
