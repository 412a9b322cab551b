"""End-to-end completion latency on a GPU: warm repository context against full prefill and transformers.

For each model shape and repository-context size, in one run:
  warm   codepager with the repository part and the current file prefix-cached, the user having
         typed a few tokens: time to first token, per-token decode (CUDA graphs, and eager decode)
  cold   codepager full prefill of the same-length prompt (nothing cached: the `--exact` path)
  hf     transformers generate (sdpa, DynamicCache) on the same prompt: time to first token, decode
  floors (weights + attended KV bytes) / copy bandwidth for a decode step or a warm first token,
         prefill matmul FLOPs / measured bf16 matmul rate for a full prefill
then 8 concurrent warm streams sharing the repository pages (tokens/s, per-stream latency) and a
torch.profiler table of one decode step. Random weights (timing only), random prompt tokens.

    python benchmarks/e2e.py [--shapes 1.5b,7b] [--contexts 2048,16384,32768] [--out DIR]
    python benchmarks/e2e.py --smoke        # tiny shape on CPU: checks the script end to end
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import traceback
from pathlib import Path

import torch
from e2e_report import print_table, profile_decode  # benchmarks/ is on sys.path
from e2e_setup import (
    Models,
    PromptMaker,
    build_models,
    copy_bandwidth,
    make_engine,
    matmul_flops,
    median_seconds,
    sync,
)

from codepager.engine.config import SamplingParams
from codepager.engine.llm_engine import LLMEngine


def timed_requests(engine: LLMEngine, prompts: list[list[int]], max_tokens: int) -> list[dict]:
    """Submit prompts at once, step to completion; per request: first-token and end times (s from
    submit), prompt tokens computed."""
    sync()
    start = time.perf_counter()
    params = SamplingParams(max_tokens=max_tokens, ignore_eos=True)
    ids = [engine.add_request(p, params) for p in prompts]
    stats = {i: {"first": None, "end": None, "computed": 0} for i in ids}
    while any(s["end"] is None for s in stats.values()):
        for out in engine.step():
            now = time.perf_counter() - start
            s = stats[out.request_id]
            if s["first"] is None and out.new_token_ids:
                s["first"] = now
            if out.finished:
                s["end"], s["computed"] = now, out.prompt_tokens_computed
    return [stats[i] for i in ids]


def per_token(stat: dict, max_tokens: int) -> float:
    return (stat["end"] - stat["first"]) / (max_tokens - 1)


def measure_context(models: Models, engine: LLMEngine, maker: PromptMaker, context: int, args) -> dict:
    repo, current = maker.tokens(context), maker.tokens(args.file_tokens)
    row: dict = {"shape": models.name, "context": context, "prompt": context + args.file_tokens + args.typed}
    # cold: full prefill, nothing cached (a distinct first token changes every page's hash)
    colds = [timed_requests(engine, [maker.tokens(1) + repo[1:] + current + maker.tokens(args.typed)], 1)[0]
             for _ in range(args.reps)]
    row["cold_ttft"] = sorted(s["first"] for s in colds)[len(colds) // 2]
    row["cold_computed"] = colds[-1]["computed"]
    timed_requests(engine, [repo + current + maker.tokens(args.typed)], 1)  # the editor's last request
    # and one keystroke after it: a running server has compiled the short-extend kernel variants,
    # whose first-time Triton compile would otherwise land in the first measured requests
    timed_requests(engine, [repo + current + maker.tokens(args.typed)], 1)
    warms = [timed_requests(engine, [repo + current + maker.tokens(args.typed)], args.max_tokens)[0]
             for _ in range(args.reps)]
    row["warm_ttft"] = sorted(s["first"] for s in warms)[len(warms) // 2]
    row["warm_computed"] = warms[-1]["computed"]
    row["decode"] = sorted(per_token(s, args.max_tokens) for s in warms)[len(warms) // 2]
    graphs, engine.runner.decode_graphs = engine.runner.decode_graphs, None
    try:
        eager = timed_requests(engine, [repo + current + maker.tokens(args.typed)], args.max_tokens)[0]
    finally:
        engine.runner.decode_graphs = graphs
    row["decode_eager"] = per_token(eager, args.max_tokens)
    row.update(measure_hf(models, repo + current + maker.tokens(args.typed), args))
    row["decode_floor"] = (models.decode_weight_bytes + models.kv_bytes(row["prompt"])) / args.copy_bw
    row["prefill_floor"] = models.prefill_flops(row["prompt"]) / args.matmul_rate
    return row


@torch.inference_mode()
def measure_hf(models: Models, prompt: list[int], args) -> dict:
    device = next(models.hf.parameters()).device
    ids = torch.tensor([prompt], device=device)

    def generate(n: int):
        return models.hf.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)

    ttft = median_seconds(lambda: generate(1), repeats=args.reps, warmup=1)
    full = median_seconds(lambda: generate(args.hf_tokens), repeats=1, warmup=0)
    return {"hf_ttft": ttft, "hf_decode": (full - ttft) / (args.hf_tokens - 1)}


def measure_concurrency(engine: LLMEngine, maker: PromptMaker, context: int, args) -> dict:
    """args.streams users on one repository (shared pages), each in its own file, all warm."""
    repo = maker.tokens(context)
    files = [maker.tokens(args.file_tokens) for _ in range(args.streams)]
    # the first round computes each file and captures the batch's graphs; the second compiles the
    # kernel variants of short extends over the cached files (a server pays both once)
    for _ in range(2):
        timed_requests(engine, [repo + f + maker.tokens(args.typed) for f in files], args.max_tokens)
    stats = timed_requests(engine, [repo + f + maker.tokens(args.typed) for f in files], args.max_tokens)
    wall = max(s["end"] for s in stats)
    return {
        "streams": args.streams, "context": context, "tokens_per_s": args.streams * args.max_tokens / wall,
        "ttft_max": max(s["first"] for s in stats), "ttft_mean": sum(s["first"] for s in stats) / len(stats),
        "per_token_mean": sum(per_token(s, args.max_tokens) for s in stats) / len(stats),
        "computed_mean": sum(s["computed"] for s in stats) / len(stats),
    }


def run_shape(name: str, args) -> tuple[list[dict], dict | None]:
    models = build_models(name, args.device, args.dtype)
    max_len = max(args.contexts) + args.file_tokens + args.typed + args.max_tokens + 16
    engine = make_engine(models, device=args.device, kv_cache_bytes=args.kv_cache_bytes, max_len=max_len,
                         decode_burst=args.decode_burst, decode_kernels=args.decode_kernels,
                         decode_ahead=args.decode_ahead)
    maker = PromptMaker(models.config.vocab_size)
    timed_requests(engine, [maker.tokens(300)], 4)  # compile kernels outside the measurements
    rows = []
    for context in args.contexts:
        try:
            rows.append(measure_context(models, engine, maker, context, args))
            print(json.dumps(rows[-1]), flush=True)
        except Exception:  # noqa: BLE001 - one failing size must not lose the others
            traceback.print_exc()
    concurrency = None
    try:
        concurrency = measure_concurrency(engine, maker, args.concurrency_context, args)
        concurrency["shape"] = name
        print(json.dumps(concurrency), flush=True)
        if args.profile:
            profile_decode(engine, maker, args.concurrency_context, args)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    del engine, models
    gc.collect()  # the engine's graphs and pool must go before the next shape's
    if args.device == "cuda":
        torch.cuda.empty_cache()
    return rows, concurrency


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shape and contexts on CPU")
    parser.add_argument("--shapes", default="1.5b,7b")
    parser.add_argument("--contexts", default="2048,16384,32768")
    parser.add_argument("--file-tokens", type=int, default=1500)
    parser.add_argument("--typed", type=int, default=8, help="new tokens of the warm request's tail")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--hf-tokens", type=int, default=33)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--concurrency-context", type=int, default=16384)
    parser.add_argument("--kv-cache-gb", type=float, default=12.0)
    parser.add_argument("--decode-ahead", type=int, default=None,
                        help="EngineConfig.decode_ahead (default: the engine's)")
    parser.add_argument("--decode-burst", type=int, default=None,
                        help="greedy decode steps per host sync (default: the engine's, 4 on CUDA)")
    parser.add_argument("--decode-kernels", default=None,
                        help="cublas, triton or triton_pdl (default: the engine's for the device)")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--out", help="folder for results.json and the profiler table")
    args = parser.parse_args(argv)
    if args.smoke:
        args.shapes, args.contexts, args.file_tokens, args.max_tokens = "smoke", "64,256", 40, 8
        args.hf_tokens, args.reps, args.streams, args.concurrency_context = 5, 1, 3, 128
        args.kv_cache_gb = 0.05
    args.device = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    args.dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    args.contexts = [int(c) for c in args.contexts.split(",")]
    args.kv_cache_bytes = int(args.kv_cache_gb * 2**30)
    args.out = Path(args.out) if args.out else None
    args.copy_bw = copy_bandwidth(args.device)
    args.matmul_rate = matmul_flops(args.device, args.dtype)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"device {device_name}: copy {args.copy_bw / 1e12:.2f} TB/s, "
          f"matmul {args.matmul_rate / 1e12:.1f} TFLOP/s ({args.dtype})", flush=True)
    rows, concurrency = [], []
    for name in args.shapes.split(","):
        shape_rows, shape_concurrency = run_shape(name, args)
        rows += shape_rows
        concurrency += [shape_concurrency] if shape_concurrency else []
    print_table(rows, concurrency, device_name, args)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "e2e_results.json").write_text(json.dumps(
            {"device": device_name, "copy_bw": args.copy_bw, "matmul_rate": args.matmul_rate,
             "rows": rows, "concurrency": concurrency}, indent=1))
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
