"""Output of benchmarks/e2e.py: the results tables with ratios and targets, and a torch.profiler
breakdown of decode steps (kernel time per step by kind, against the wall time of a step)."""

from __future__ import annotations

import time
from collections import defaultdict

import torch
from e2e_setup import kernel_seconds  # benchmarks/ is on sys.path

from codepager.engine.config import SamplingParams
from codepager.engine.llm_engine import LLMEngine

TARGET_CONTEXT = 16384
KERNEL_KINDS = (  # (kind, name fragments), first match wins
    ("attention (paged decode)", ("decode_split",)),
    ("attention (split merge)", ("merge_splits",)),
    ("attention (extend)", ("extend",)),
    ("kv store", ("store_kv",)),
    ("decode projections (Triton, norms and SwiGLU inside)", ("decode_linear",)),
    ("matmul", ("gemm", "gemv", "nvjet", "cutlass", "sm90", "xmma", "splitk", "cublas")),
)


def print_table(rows: list[dict], concurrency: list[dict], device: str, args) -> None:
    ms = 1e3
    print(f"\n### End to end on {device} (copy {args.copy_bw / 1e12:.2f} TB/s, "
          f"matmul {args.matmul_rate / 1e12:.0f} TFLOP/s)\n")
    print("| shape | repo ctx | prompt | warm TTFT ms | tokens computed | cold TTFT ms | cold/warm | "
          "HF TTFT ms | HF/warm | prefill floor ms | decode ms/tok | eager ms/tok | HF ms/tok | "
          "decode floor ms | decode/floor |")
    print("|" + "---|" * 15)
    for r in rows:
        print(f"| {r['shape']} | {r['context']} | {r['prompt']} | {r['warm_ttft'] * ms:.2f} | "
              f"{r['warm_computed']} | {r['cold_ttft'] * ms:.1f} | {r['cold_ttft'] / r['warm_ttft']:.1f}x | "
              f"{r['hf_ttft'] * ms:.1f} | {r['hf_ttft'] / r['warm_ttft']:.1f}x | "
              f"{r['prefill_floor'] * ms:.1f} | "
              f"{r['decode'] * ms:.2f} | {r['decode_eager'] * ms:.2f} | {r['hf_decode'] * ms:.2f} | "
              f"{r['decode_floor'] * ms:.2f} | {r['decode'] / r['decode_floor']:.2f}x |")
    if concurrency:
        print("\n| shape | streams | repo ctx | tokens/s | mean TTFT ms | max TTFT ms | "
              "mean ms/token/stream | tokens computed/stream |")
        print("|" + "---|" * 8)
        for c in concurrency:
            print(f"| {c['shape']} | {c['streams']} | {c['context']} | {c['tokens_per_s']:.0f} | "
                  f"{c['ttft_mean'] * ms:.1f} | {c['ttft_max'] * ms:.1f} | {c['per_token_mean'] * ms:.2f} | "
                  f"{c['computed_mean']:.0f} |")
    print()
    for r in rows:
        if r["context"] == TARGET_CONTEXT:
            checks = [
                ("warm TTFT >= 20x faster than full prefill", r["cold_ttft"] / r["warm_ttft"] >= 20),
                ("warm TTFT >= 10x faster than transformers", r["hf_ttft"] / r["warm_ttft"] >= 10),
                ("decode step within 1.5x of the bandwidth floor", r["decode"] / r["decode_floor"] <= 1.5),
            ]
            for text, ok in checks:
                print(f"target {r['shape']} @16k: {text}: {'met' if ok else 'NOT met'}")


def _kind(name: str) -> str:
    lowered = name.lower()
    for kind, fragments in KERNEL_KINDS:
        if any(f in lowered for f in fragments):
            return kind
    return "other (norms, rope, activations, copies)"


def profile_decode(engine: LLMEngine, maker, context: int, args, steps: int = 16) -> None:
    """Profile `steps` engine steps of one warm stream, with CUDA graphs and eager; print kernel time
    per generated token by kind and the wall time per token (a decode burst makes one engine step
    several tokens)."""
    from torch.profiler import ProfilerActivity, profile

    repo = maker.tokens(context)
    current = maker.tokens(args.file_tokens)
    engine.generate([repo + current + maker.tokens(args.typed)],
                    SamplingParams(max_tokens=1, ignore_eos=True))  # caches the repository and file
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    graphs = engine.runner.decode_graphs
    for mode in ("graphs", "eager"):
        engine.runner.decode_graphs = graphs if mode == "graphs" else None
        request = engine.add_request(repo + current + maker.tokens(args.typed),
                                     SamplingParams(max_tokens=8 * (steps + 8), ignore_eos=True))
        for _ in range(4):  # prefill of the tail and a few decode steps outside the profile
            engine.step()
        tokens = 0
        with profile(activities=activities) as prof:
            start = time.perf_counter()
            for _ in range(steps):
                tokens += sum(len(out.new_token_ids) for out in engine.step() if out.request_id == request)
            wall = (time.perf_counter() - start) / tokens
        engine.cancel(request)
        per_kind: dict[str, float] = defaultdict(float)
        for event in prof.key_averages():  # kernels, copies and memsets: device time, no CPU time
            device_us = getattr(event, "self_device_time_total", 0.0)
            if device_us > 0 and event.self_cpu_time_total == 0:
                per_kind[_kind(event.key)] += device_us / tokens
        total = sum(per_kind.values())
        print(f"\nprofile {mode}, 1 stream @ {context} + {args.file_tokens}: {tokens} tokens in {steps} "
              f"steps: wall {wall * 1e3:.2f} ms/token, GPU kernels {total / 1e3:.2f} ms/token")
        for kind, us in sorted(per_kind.items(), key=lambda kv: -kv[1]):
            print(f"  {kind:42s} {us / 1e3:7.3f} ms/token")
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            sort = "self_cuda_time_total" if args.device == "cuda" else "self_cpu_time_total"
            (args.out / f"profile_{mode}_{context}.txt").write_text(
                prof.key_averages().table(sort_by=sort, row_limit=40))
        if mode == "graphs" and graphs is not None and graphs.last_replayed is not None:
            replay_s = kernel_seconds(graphs.last_replayed.replay, "cuda") / graphs.last_replayed_steps
            print(f"decode graph replay alone (GPU time of one decode step, lm_head and argmax included "
                  f"for a burst): {replay_s * 1e3:.3f} ms")
    engine.runner.decode_graphs = graphs
    profile_warm_first_token(engine, repo + current, maker.tokens(args.typed), args)
    hidden = engine.loaded.model.lm_head.weight
    x = torch.randn(1, hidden.shape[1], device=hidden.device, dtype=hidden.dtype)
    logits_s = kernel_seconds(lambda: engine.runner.compute_logits(x).argmax(-1), args.device)
    print(f"lm_head + argmax alone: {logits_s * 1e3:.3f} ms")
    size, inner = hidden.shape[1], engine.loaded.config.intermediate_size
    for rows, cols in ((size, inner), (inner, size), (size, size)):
        w = torch.randn(cols, rows, device=hidden.device, dtype=hidden.dtype)
        v = torch.randn(1, rows, device=hidden.device, dtype=hidden.dtype)
        seconds = kernel_seconds(lambda w=w, v=v: v @ w.t(), args.device)
        print(f"  M=1 matmul [{rows}] x [{rows}x{cols}]: {seconds * 1e6:.1f} us, "
              f"{w.numel() * w.element_size() / seconds / 1e12:.2f} TB/s of weights")


def profile_warm_first_token(engine: LLMEngine, cached: list[int], typed: list[int], args) -> None:
    """Where a warm request's first step goes: host functions (cProfile, inflated by profiling)
    and the GPU time of the replayed step alone."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    request = engine.add_request(cached + typed, SamplingParams(max_tokens=2, ignore_eos=True))
    engine.step()
    profiler.disable()
    engine.cancel(request)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(18)
    print(f"\nwarm first step, host profile ({len(cached)} cached + {len(typed)} typed tokens):")
    print("\n".join(line for line in text.getvalue().splitlines() if "codepager" in line or "ncalls" in line))
    graphs = engine.runner.decode_graphs
    if graphs is not None and graphs.last_replayed is not None:
        replay_s = kernel_seconds(graphs.last_replayed.replay, "cuda")
        print(f"warm step graph replay alone (GPU time of the first step): {replay_s * 1e3:.3f} ms")
