"""The small-M linear (decode GEMV) kernel against F.linear (cuBLAS) on the decode projections of
Qwen2.5-Coder 1.5B and 7B, in bf16, for 1 and 8 rows.

Prints a markdown table: time of ours and of F.linear, weight bytes read / time, and that as a share
of the device-to-device copy bandwidth (read + written bytes / time of a 1 GiB copy) measured in
the same run; then the four projections summed over a decode step's layers. Timing is steady state
(see gpu_timing.py): a CUDA graph of back-to-back calls cycling over enough weight copies to
exceed the L2.

    python3 benchmarks/small_m_linear.py [--sweep] [--models 1.5B,7B] [--markdown PATH]
    python3 benchmarks/small_m_linear.py --smoke      # CPU, Triton interpreter, tiny shapes

--sweep times a grid of tile configurations on every shape and prints the best per shape and,
per shape class of SMALL_M_CONFIGS, the one with the lowest mean time relative to each shape's
best, then the split-K rule settings for it: one GPU run retunes the table.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from dataclasses import replace

import torch

SMOKE = "--smoke" in sys.argv and not torch.cuda.is_available()
if SMOKE:
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is imported

import torch.nn.functional as F  # noqa: E402
import triton  # noqa: E402
from gpu_timing import copies_needed, copy_bandwidth, markdown, report, steady_ms  # noqa: E402  (benchmarks/ is on sys.path)

from codepager.kernels.paged_tiles import device_sm_count  # noqa: E402
from codepager.kernels.small_m_linear import (  # noqa: E402
    SmallMConfig,
    config_for,
    shape_class,
    small_m_linear,
    split_k_for,
)

# projection -> (N, K); every model here has 28 layers
MODELS = {
    "1.5B": {"qkv": (2048, 1536), "o": (1536, 1536), "gate_up": (17920, 1536), "down": (1536, 8960)},
    "7B": {"qkv": (4608, 3584), "o": (3584, 3584), "gate_up": (37888, 3584), "down": (3584, 18944)},
}
SMOKE_MODELS = {"tiny": {"qkv": (48, 32), "o": (32, 32), "gate_up": (160, 32), "down": (32, 80)}}
LAYERS = 28
ROWS = (1, 8)


class Problem:
    """Copies of one projection's weight (enough to exceed L2 on a GPU), an x per copy, a bias for qkv."""

    def __init__(self, proj: str, n: int, k: int, m: int, dtype: torch.dtype, device: str) -> None:
        gen = torch.Generator(device=device).manual_seed(n * 31 + k + m)
        self.n, self.k, self.m = n, k, m
        self.weight_bytes = n * k * torch.tensor([], dtype=dtype).element_size()
        copies = copies_needed(self.weight_bytes) if device == "cuda" else 1
        self.weights = [(torch.randn(n, k, generator=gen, device=device) / k**0.5).to(dtype)
                        for _ in range(copies)]
        self.xs = [torch.randn(m, k, generator=gen, device=device).to(dtype) for _ in range(copies)]
        self.bias = torch.randn(n, generator=gen, device=device).to(dtype) if proj == "qkv" else None

    def ours(self, config: SmallMConfig | None = None) -> list:
        return [lambda x=x, w=w: small_m_linear(x=x, weight=w, bias=self.bias, config=config)
                for x, w in zip(self.xs, self.weights, strict=True)]

    def cublas(self) -> list:
        return [lambda x=x, w=w: F.linear(x, w, self.bias)
                for x, w in zip(self.xs, self.weights, strict=True)]

    def relative_error(self) -> float:
        ours, ref = self.ours()[0]().float(), self.cublas()[0]().float()
        return ((ours - ref).abs().max() / ref.abs().max()).item()


def cpu_ms(fns: list, **_kwargs) -> float:
    """Wall time per call on the CPU (the interpreter: checks the script, says nothing about speed)."""
    for fn in fns:
        fn()
    start = time.perf_counter()
    for fn in fns:
        fn()
    return (time.perf_counter() - start) * 1e3 / len(fns)


def cpu_copy_bandwidth() -> float:
    src = torch.randn(2**24)
    dst = torch.empty_like(src)
    start = time.perf_counter()
    dst.copy_(src)
    return 2 * src.numel() * 4 / (time.perf_counter() - start)


def measure_row(model: str, proj: str, n: int, k: int, m: int, copy_bw: float, timer, args) -> dict:
    problem = Problem(proj, n, k, m, args.dtype, args.device)
    ours_ms = timer(problem.ours())
    cublas_ms = timer(problem.cublas())
    config = config_for(n=n, k=k, device=torch.device(args.device))
    splits, _ = split_k_for(n=n, k=k, config=config, sm_count=device_sm_count(torch.device(args.device)))
    ours_bw, cublas_bw = problem.weight_bytes / (ours_ms * 1e-3), problem.weight_bytes / (cublas_ms * 1e-3)
    return {"model": model, "proj": proj, "M": m, "N x K": f"{n} x {k}", "class": shape_class(n=n, k=k),
            "splits": splits, "ours us": ours_ms * 1e3, "cuBLAS us": cublas_ms * 1e3,
            "ours GB/s": ours_bw / 1e9, "ours % copy": 100 * ours_bw / copy_bw,
            "cuBLAS % copy": 100 * cublas_bw / copy_bw, "speedup": cublas_ms / ours_ms,
            "rel err": problem.relative_error()}


def step_totals(rows: list[dict]) -> list[dict]:
    """The four projections of every layer of one decode step (lm_head excluded)."""
    totals = []
    for (model, m), group in itertools.groupby(rows, key=lambda r: (r["model"], r["M"])):
        group = list(group)
        ours = LAYERS * sum(r["ours us"] for r in group) / 1e3
        cublas = LAYERS * sum(r["cuBLAS us"] for r in group) / 1e3
        totals.append({"model": model, "M": m, "layers": LAYERS, "ours ms": ours, "cuBLAS ms": cublas,
                       "saved ms": cublas - ours})
    return totals


def sweep_grid(smoke: bool) -> list[SmallMConfig]:
    if smoke:
        return [SmallMConfig(block_n=16, block_k=32, num_warps=4, num_stages=1, min_k_per_split=32),
                SmallMConfig(block_n=16, block_k=16, num_warps=4, num_stages=1, min_k_per_split=32,
                             dot_from_m=1)]
    # (block_n, dot_from_m): narrow tiles only multiply by broadcast-sum; wider ones try tl.dot for all
    # rows (1) and from 5 rows on (5; the sweep's rows are 1 and 8)
    products = [(4, 17), (8, 17), (16, 1), (16, 5), (32, 1), (32, 5)]
    return [SmallMConfig(block_n=bn, block_k=bk, num_warps=w, num_stages=s, dot_from_m=d)
            for (bn, d), bk, w, s in itertools.product(products, [128, 256, 512], [4, 8], [2, 4])]


def best_for_class(timings: dict, configs: list, keys: list) -> tuple[SmallMConfig, float]:
    """The config with the lowest mean of time / (best time of that shape and M) over keys."""
    best_ms = {key: min(timings.get((key, c), float("inf")) for c in configs) for key in keys}
    score = lambda c: sum(timings.get((key, c), float("inf")) / best_ms[key] for key in keys) / len(keys)  # noqa: E731
    chosen = min(configs, key=score)
    return chosen, score(chosen)


def time_configs(problems: dict, configs: list, timer, timings: dict) -> None:
    for config in configs:
        for key, problem in problems.items():
            try:
                timings[(key, config)] = timer(problem.ours(config), rep=40)
            except Exception as error:  # noqa: BLE001 - a config may not fit (shared memory, registers)
                print(f"sweep {key} {config}: failed ({type(error).__name__})", flush=True)


def sweep(models: dict, args, timer) -> None:
    problems = {(model, proj, m): Problem(proj, n, k, m, args.dtype, args.device)
                for model, shapes in models.items() for proj, (n, k) in shapes.items() for m in ROWS}
    configs = sweep_grid(SMOKE)
    timings: dict = {}
    time_configs(problems, configs, timer, timings)
    for key, problem in problems.items():
        ms, config = min((timings.get((key, c), float("inf")), c) for c in configs)
        print(f"sweep best {key} N={problem.n} K={problem.k}: {ms * 1e3:.1f} us, "
              f"{problem.weight_bytes / (ms * 1e-3) / 1e9:.0f} GB/s  {config}", flush=True)
    for cls in ("wide", "square", "deep"):
        keys = [key for key, p in problems.items() if shape_class(n=p.n, k=p.k) == cls]
        if not keys:
            continue
        tile, score = best_for_class(timings, configs, keys)
        splits = [replace(tile, programs_per_sm=p, min_k_per_split=mk)
                  for p, mk in itertools.product([1, 2, 4, 8], [256, 512, 1024])]
        time_configs({key: problems[key] for key in keys}, splits, timer, timings)
        chosen, split_score = best_for_class(timings, splits, keys)
        print(f"sweep class {cls}: tiles {score:.3f}x of per-shape best; with split rule "
              f"{split_score:.3f}x of best split -> {chosen!r}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="time a grid of configs per shape first")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: 1.5B,7B")
    parser.add_argument("--markdown", help="write the tables to this file too")
    parser.add_argument("--smoke", action="store_true",
                        help="CPU interpreter, tiny shapes (checks the script only)")
    args = parser.parse_args(argv)
    if args.smoke and not SMOKE:
        print("--smoke is for machines without CUDA", file=sys.stderr)
    if not SMOKE and not torch.cuda.is_available():
        print("needs a CUDA GPU (or --smoke)", file=sys.stderr)
        return 1
    args.device = "cpu" if SMOKE else "cuda"
    args.dtype = torch.float32 if SMOKE else torch.bfloat16  # bf16 is wrong in the interpreter
    models = SMOKE_MODELS if SMOKE else {name: MODELS[name] for name in args.models.split(",")}
    timer = cpu_ms if SMOKE else steady_ms
    if SMOKE:
        header = f"CPU smoke run (Triton interpreter), torch {torch.__version__}, triton {triton.__version__}"
    else:
        props = torch.cuda.get_device_properties(0)
        header = (f"{props.name}, {props.multi_processor_count} SMs, torch {torch.__version__}, "
                  f"triton {triton.__version__}, {str(args.dtype).removeprefix('torch.')}")
    print(header, flush=True)
    if args.sweep:
        sweep(models, args, timer)
    copy_bw = cpu_copy_bandwidth() if SMOKE else copy_bandwidth()
    print(f"device-to-device copy: {copy_bw / 1e9:.0f} GB/s (read + written)", flush=True)
    rows = []
    for model, shapes in models.items():
        for m, (proj, (n, k)) in itertools.product(ROWS, shapes.items()):
            rows.append(measure_row(model, proj, n, k, m, copy_bw, timer, args))
            print(rows[-1], flush=True)
    text = (f"{header}\n\ndevice-to-device copy: {copy_bw / 1e9:.0f} GB/s (read + written)\n\n"
            f"{markdown(rows)}\n\nper decode step (4 projections x layers, lm_head excluded)\n\n"
            f"{markdown(step_totals(rows))}\n")
    report(text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
