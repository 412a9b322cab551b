"""What the paged-decode probes (decode_probe, decode_timeline, decode_variants, decode_warp_tiles)
share: their --shapes argument, the run over those shapes (after the copy bandwidth every row is
compared with), the input copies of one shape, a variant's shape with the shipped kernel timed first, and a
variant script's main."""

from __future__ import annotations

import argparse
import sys

import torch
import triton
from gpu_timing import copies_needed, copy_bandwidth, steady_ms  # benchmarks/ on sys.path

from codepager.kernels.paged_decode import paged_decode, paged_decode_ref
from codepager.kernels.paged_decode_config import decode_num_splits
from kernels import DTYPE, HEAD_DIM, PagedKV


def parse_shapes(text: str | None, default: list[tuple]) -> list[tuple]:
    """--shapes "12x2x8x16384,..." (HQxHKVxBATCHxLENGTH) as tuples; default when not given."""
    if not text:
        return default
    return [tuple(int(x) for x in s.split("x")) for s in text.split(",")]


def shapes_parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser described by doc's first line, with --shapes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--shapes", help="comma-separated HQxHKVxBATCHxLENGTH")
    return parser


def run_shapes(shapes_text: str | None, default: list[tuple], probe_one) -> int:
    """After printing the device and its device-to-device copy bandwidth, probe_one(shape, copy_bw,
    gen) for each shape of --shapes (default when not given), gen a seeded CUDA generator; exit
    status 1, with a message, without a GPU."""
    if not torch.cuda.is_available():
        print("needs a CUDA GPU", file=sys.stderr)
        return 1
    gen = torch.Generator(device="cuda").manual_seed(0)
    copy_bw = copy_bandwidth()
    print(f"{torch.cuda.get_device_name()} copy {copy_bw / 1e9:.0f} GB/s", flush=True)
    for shape in parse_shapes(shapes_text, default):
        probe_one(shape, copy_bw, gen)
    return 0


def decode_copies(hq: int, hkv: int, batch: int, length: int, gen) -> list[tuple[PagedKV, torch.Tensor]]:
    """(paged K/V, query) copies of one decode shape, together at least 4x the L2."""
    return [(PagedKV(batch, length, hkv, gen),
             torch.randn(batch, hq, HEAD_DIM, device="cuda", dtype=DTYPE, generator=gen))
            for _ in range(copies_needed(batch * length * hkv * HEAD_DIM * 4))]


class VariantShape:
    """One shape for a decode variant: its copies, the shipped kernel's split count and time (printed
    first), the reference output of the first copy, and row() to print a variant's time."""

    def __init__(self, hq: int, hkv: int, batch: int, length: int, copy_bw: float, gen) -> None:
        self.copies = decode_copies(hq, hkv, batch, length, gen)
        self.name = f"{hq}q/{hkv}kv {batch}x{length // 1024}k"
        self.entries = self.copies[0][0].block_tables.shape[1]
        self.sm_count = torch.cuda.get_device_properties(0).multi_processor_count
        self.copy_bw = copy_bw
        self.shipped_splits = decode_num_splits(num_seqs=batch, num_kv_heads=hkv, num_entries=self.entries,
                                                sm_count=self.sm_count)
        kv, q = self.copies[0]
        self.ref = paged_decode_ref(q=q, **kv.layout())
        self.row(f"shipped splits={self.shipped_splits}",
                 steady_ms([lambda c=c: paged_decode(q=c[1], **c[0].layout()) for c in self.copies]))

    def row(self, label: str, ms: float) -> None:
        bw = self.copies[0][0].bytes / (ms * 1e-3)
        print(f"{self.name:18s} {label:58s} {ms * 1e3:8.2f} us {100 * bw / self.copy_bw:6.1f} % copy",
              flush=True)

    def time_variant(self, decode, label: str, **options) -> None:
        """decode(q=..., **options, **layout) checked against the reference on the first copy, then
        timed over all copies and printed with its relative error (skipped when its launch
        configuration does not fit the GPU)."""
        kv, q = self.copies[0]
        try:
            out = decode(q=q, **options, **kv.layout())
        except triton.runtime.errors.OutOfResources:
            return
        torch.cuda.synchronize()
        err = ((out.float() - self.ref.float()).norm() / self.ref.float().norm()).item()
        ms = steady_ms([lambda c=c: decode(q=c[1], **options, **c[0].layout()) for c in self.copies], rep=100)
        self.row(f"{label} err {err:.1e}", ms)


def variant_main(doc: str, shapes: list[tuple], probe_shape, argv: list[str] | None) -> int:
    """A variant script's main: --shapes and --quick, then probe_shape(*shape, copy_bw, gen, quick)
    for each shape."""
    parser = shapes_parser(doc)
    parser.add_argument("--quick", action="store_true", help="one configuration per variant")
    args = parser.parse_args(argv)
    return run_shapes(args.shapes, shapes,
                      lambda shape, copy_bw, gen: probe_shape(*shape, copy_bw, gen, args.quick))
