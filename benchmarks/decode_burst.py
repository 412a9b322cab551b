"""Decode bursts on a GPU: per-token decode time of one warm stream for several burst lengths K
(greedy decode steps per host synchronisation), burst-ahead lengths A (steps launched before a
burst's tokens are read) and decode kernel sets (the model's DECODE_KERNELS: cuBLAS projections, or
Triton ones with the norms and SwiGLU inside, chained by PDL or not), in one run on the same engine
and prompt; and what launching ahead costs a keystroke: the time to first token of a new warm
request sent right after cancelling a streaming one (the cancelled request's queued GPU work runs
before the new request's).

    python benchmarks/decode_burst.py [--shape 1.5b] [--context 16384] [--bursts 1,4,8,4]
        [--ahead 0,1,4] [--kernels cublas,triton,triton_pdl] [--linear-configs JSON] [--cancels 7]
        [--timeline] [--host-profile] [--attention-max-splits 64,128]

--linear-configs is a JSON list of overrides of the CUDA DECODE_LINEAR_CONFIGS, each
{"shallow": {field: value}, "deep": {...}}, timed in turn with every Triton kernel set (tuning the
projections as they run chained, which a kernel timed alone does not show).

K = 1 is the engine without bursts (one host round trip per token); every K > 1 runs with each
A <= K; the last K is repeated to show run-to-run spread. "decode graph alone" is the GPU time of
one step in the last graph replayed (bursts: their graph runs every step with lm_head and the
argmax; K = 1: the step's graph without them). Random weights and prompt tokens (timing only), as
benchmarks/e2e.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

import torch
from e2e_setup import PromptMaker, build_models, make_engine  # benchmarks/ is on sys.path
from gpu_timing import median_ms

from codepager.engine.config import SamplingParams
from codepager.engine.llm_engine import LLMEngine
from codepager.kernels import decode_linear_config, paged_decode_config


def per_token_ms(engine: LLMEngine, prompt: list[int], tokens: int) -> float:
    """Wall ms per token after the first streamed one, for `tokens` more."""
    request = engine.add_request(prompt, SamplingParams(max_tokens=tokens + 1, ignore_eos=True))
    start, count = None, 0
    while True:
        outputs = [o for o in engine.step() if o.request_id == request]
        new = sum(len(o.new_token_ids) for o in outputs)
        if start is None and new:
            torch.cuda.synchronize()
            start = time.perf_counter()
        elif start is not None:
            count += new
        if any(o.finished for o in outputs):
            return (time.perf_counter() - start) / count * 1e3


def graph_step_ms(engine: LLMEngine) -> float:
    """GPU time of one decode step: the last graph replayed alone, divided by the steps it runs
    (a burst's graph holds all its steps, lm_head and argmax included)."""
    graphs = engine.runner.decode_graphs
    return median_ms(graphs.last_replayed.replay) / graphs.last_replayed_steps


def gpu_timeline(engine: LLMEngine, prompt: list[int], tokens: int) -> str:
    """Where a streamed token's wall time goes: torch.profiler's CUDA trace of `tokens` tokens after
    the first, as GPU busy time (union of kernel and copy intervals; PDL overlaps count once), GPU
    idle time inside the span, and the kernels that take the most GPU time, per token."""
    from torch.profiler import ProfilerActivity, profile

    request = engine.add_request(prompt, SamplingParams(max_tokens=tokens + 1, ignore_eos=True))
    while not any(o.request_id == request and o.new_token_ids for o in engine.step()):
        pass
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        while engine.has_unfinished():
            engine.step()
        torch.cuda.synchronize()
        wall = (time.perf_counter() - start) * 1e3
    with tempfile.TemporaryDirectory() as folder:
        trace = os.path.join(folder, "trace.json")
        prof.export_chrome_trace(trace)
        with open(trace, encoding="utf-8") as handle:
            events = json.load(handle)["traceEvents"]
    spans = sorted((e["ts"], e["ts"] + e["dur"], e["name"]) for e in events
                   if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset") and "dur" in e)
    busy, end, last = 0.0, spans[0][0], spans[0][2]
    by_name: dict[str, float] = {}
    gaps: dict[tuple[str, str], list[float]] = {}  # idle time by the work on either side of it
    for begin, finish, name in spans:
        if begin > end:
            gaps.setdefault((last[:40], name[:40]), []).append(begin - end)
        busy += max(0.0, finish - max(begin, end))
        if finish > end:
            end, last = finish, name
        by_name[name] = by_name.get(name, 0.0) + finish - begin
    span_ms = (end - spans[0][0]) / 1e3
    lines = [f"\nGPU timeline of {tokens} streamed tokens (torch.profiler; per token): wall "
             f"{wall / tokens:.3f} ms, GPU span {span_ms / tokens:.3f} ms, GPU busy "
             f"{busy / 1e3 / tokens:.3f} ms, GPU idle inside the span "
             f"{(span_ms - busy / 1e3) / tokens:.3f} ms",
             "\n| kernel | µs per token | calls per token |\n|---|---|---|"]
    counts = {name: sum(1 for s in spans if s[2] == name) for name in by_name}
    for name, total in sorted(by_name.items(), key=lambda kv: -kv[1])[:14]:
        lines.append(f"| {name[:90]} | {total / tokens:.1f} | {counts[name] / tokens:.2f} |")
    lines.append("\n| idle gap after | before | µs per token | gaps per token | largest µs |\n"
                 "|---|---|---|---|---|")
    for (after, before), times in sorted(gaps.items(), key=lambda kv: -sum(kv[1]))[:10]:
        lines.append(f"| {after} | {before} | {sum(times) / tokens:.1f} | {len(times) / tokens:.2f} "
                     f"| {max(times):.1f} |")
    return "\n".join(lines)


def ttft_after_cancel_ms(engine: LLMEngine, maker: PromptMaker, prefix: list[int], repeats: int) -> float:
    """Median ms from add_request to the first token of a warm request sent right after cancelling
    another request of the same file that had streamed a dozen tokens. The cancel lands between
    engine steps, when nothing but a burst launched ahead is left on the GPU."""
    times = []
    for _ in range(repeats):
        streaming = engine.add_request(prefix + maker.tokens(8),
                                       SamplingParams(max_tokens=200, ignore_eos=True))
        produced = 0
        while produced < 12:
            produced += sum(len(o.new_token_ids) for o in engine.step() if o.request_id == streaming)
        engine.cancel(streaming)
        start = time.perf_counter()
        typed = engine.add_request(prefix + maker.tokens(8), SamplingParams(max_tokens=1, ignore_eos=True))
        while not any(o.request_id == typed and o.new_token_ids for o in engine.step()):
            pass
        times.append((time.perf_counter() - start) * 1e3)
        while engine.has_unfinished():
            engine.step()
    return sorted(times)[len(times) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="1.5b")
    parser.add_argument("--context", type=int, default=16384)
    parser.add_argument("--file-tokens", type=int, default=1500)
    parser.add_argument("--tokens", type=int, default=160)
    parser.add_argument("--bursts", default="1,4,8,4")
    parser.add_argument("--ahead", default="0,1,4", help="burst-ahead lengths to compare")
    parser.add_argument("--kernels", default=None,
                        help="decode kernel sets to compare (default: the engine's for the device)")
    parser.add_argument("--linear-configs", default="[{}]", help="JSON list of config overrides")
    parser.add_argument("--attention-max-splits", default="",
                        help="comma-separated caps on the paged decode's split count to time in turn")
    parser.add_argument("--host-profile", action="store_true",
                        help="also cProfile the host side of the last configuration's stream")
    parser.add_argument("--timeline", action="store_true",
                        help="also profile the last configuration's stream: GPU busy/idle and top kernels")
    parser.add_argument("--cancels", type=int, default=7,
                        help="repeats of the cancel-then-type TTFT (0: skip)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("needs a CUDA GPU", file=sys.stderr)
        return 1
    models = build_models(args.shape, "cuda", torch.bfloat16)
    max_len = args.context + args.file_tokens + args.tokens + 64
    engine = make_engine(models, device="cuda", kv_cache_bytes=12 << 30, max_len=max_len)
    maker = PromptMaker(models.config.vocab_size)
    prompt = maker.tokens(args.context + args.file_tokens)
    engine.generate([prompt + maker.tokens(8)], SamplingParams(max_tokens=40, ignore_eos=True))
    aheads = [int(a) for a in args.ahead.split(",")]
    model = engine.runner.model
    kernel_sets = args.kernels.split(",") if args.kernels else [model.decode_kernels]
    defaults = dict(decode_linear_config.DECODE_LINEAR_CONFIGS["cuda"])
    rows = []
    for kernels, overrides in [(k, o) for k in kernel_sets for o in json.loads(args.linear_configs)]:
        if kernels == "cublas" and overrides:
            continue
        decode_linear_config.DECODE_LINEAR_CONFIGS["cuda"] = {
            cls: dataclasses.replace(config, **overrides.get(cls, {})) for cls, config in defaults.items()}
        engine.runner.decode_graphs.clear()
        model.decode_kernels = kernels
        label = kernels + (f" {json.dumps(overrides, separators=(',', ':'))}" if overrides else "")
        for burst in (int(k) for k in args.bursts.split(",")):
            for ahead in [a for a in aheads if a <= burst] if burst > 1 else [0]:
                engine.decode_burst, engine.decode_ahead = burst, ahead
                engine.generate([prompt + maker.tokens(8)], SamplingParams(max_tokens=40, ignore_eos=True))
                ms = per_token_ms(engine, prompt + maker.tokens(8), args.tokens)
                step_ms = graph_step_ms(engine)
                rows.append((label, burst, ahead, ms, step_ms))
                print(f"{label} K={burst} A={ahead}: {ms:.3f} ms/token, graph {step_ms:.3f} ms", flush=True)
    decode_linear_config.DECODE_LINEAR_CONFIGS["cuda"] = defaults
    base = rows[0][3]
    print(f"\n{torch.cuda.get_device_name()}, shape {args.shape}, context {args.context} + "
          f"{args.file_tokens}, {args.tokens} tokens\n\n"
          "| decode kernels | K | A (steps launched ahead) | ms/token | vs first row "
          "| decode graph alone, ms |\n"
          "|---|---|---|---|---|---|")
    for kernels, burst, ahead, ms, step_ms in rows:
        print(f"| {kernels} | {burst} | {ahead} | {ms:.3f} | {base / ms:.2f}x | {step_ms:.3f} |")
    if args.attention_max_splits:
        print("\n| attention split cap (last row's settings) | ms/token | decode graph alone, ms |\n"
              "|---|---|---|")
        targets = dict(paged_decode_config.SPLIT_TARGETS)
        for cap in (int(v) for v in args.attention_max_splits.split(",")):
            # the most splits of both launch kinds (paged_decode_config.SPLIT_TARGETS)
            paged_decode_config.SPLIT_TARGETS.update({k: (*t[:2], cap) for k, t in targets.items()})
            engine.runner.decode_graphs.clear()
            engine.generate([prompt + maker.tokens(8)], SamplingParams(max_tokens=40, ignore_eos=True))
            ms = per_token_ms(engine, prompt + maker.tokens(8), args.tokens)
            step_ms = graph_step_ms(engine)
            print(f"| {cap} | {ms:.3f} | {step_ms:.3f} |", flush=True)
        paged_decode_config.SPLIT_TARGETS.update(targets)
        engine.runner.decode_graphs.clear()
    if args.host_profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        per_token_ms(engine, prompt + maker.tokens(8), args.tokens)
        profiler.disable()
        print(f"\nhost profile of {args.tokens} streamed tokens (cProfile, top functions by own time)")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
    if args.timeline:
        print(gpu_timeline(engine, prompt + maker.tokens(8), args.tokens), flush=True)
    if args.cancels:
        print("\n| K | A | TTFT after a cancel, ms (median of "
              f"{args.cancels}) |\n|---|---|---|")
        model.decode_kernels = kernel_sets[-1]
        for ahead in aheads:
            engine.decode_burst, engine.decode_ahead = 4, ahead
            print(f"| 4 | {ahead} | {ttft_after_cancel_ms(engine, maker, prompt, args.cancels):.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
