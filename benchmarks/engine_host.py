"""Engine host overhead of a warm request: add_request + the first schedule, on CPU with a tiny model.

The editor's previous request left the repository context and the current file in the prefix cache;
the user typed a few tokens. What the engine does in Python before the model runs (building the
sequence, validating token ids, planning pages against the prefix cache, admitting the request) is
O(prompt) per request, and on a GPU it is the part of the warm time to first token that the device
does not hide. For each context size: the median over --reps of
  host    add_request + scheduler.schedule() (the request is then cancelled: nothing runs)
  step    add_request + engine steps until the first token (tiny model forward included)
A tiny 1-layer model keeps the forward cheap; only the page pool and prompt sizes matter here.

    python benchmarks/engine_host.py [--contexts 2048,16384,32768] [--file-tokens 1500] [--typed 8]
                                     [--reps 7] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from codepager.engine.config import EngineConfig, SamplingParams
from codepager.engine.llm_engine import LLMEngine
from codepager.model.loader import load_model
from codepager.model.testing import make_tiny_model_dir


def build_engine(max_len: int, model_dir: Path) -> LLMEngine:
    make_tiny_model_dir(model_dir, "qwen2", seed=1, num_hidden_layers=1, max_position_embeddings=max_len)
    pages = 2 * max_len // 16 + 256  # the cached context, a cold copy's worth of room, and spare
    return LLMEngine(load_model(model_dir), EngineConfig(num_pages=pages, max_model_len=max_len))


def warm_host_ms(engine: LLMEngine, prompt: list[int]) -> float:
    start = time.perf_counter()
    request_id = engine.add_request(prompt, SamplingParams(max_tokens=1))
    engine.scheduler.schedule()
    elapsed = time.perf_counter() - start
    engine.cancel(request_id)
    return elapsed * 1000


def warm_first_token_ms(engine: LLMEngine, prompt: list[int]) -> float:
    start = time.perf_counter()
    request_id = engine.add_request(prompt, SamplingParams(max_tokens=1))
    while not any(out.new_token_ids for out in engine.step() if out.request_id == request_id):
        pass
    return (time.perf_counter() - start) * 1000


def measure(engine: LLMEngine, context: int, args: argparse.Namespace, rng: random.Random) -> dict:
    vocab = engine.loaded.config.vocab_size
    base = [rng.randrange(vocab) for _ in range(context + args.file_tokens)]
    engine.generate([base + [1] * args.typed], SamplingParams(max_tokens=1))  # the editor's last request

    def typed() -> list[int]:
        return base + [rng.randrange(vocab) for _ in range(args.typed)]

    hosts = [warm_host_ms(engine, typed()) for _ in range(args.reps)]
    steps = [warm_first_token_ms(engine, typed()) for _ in range(args.reps)]
    row = {"context": context, "prompt": len(base) + args.typed,
           "host_ms": statistics.median(hosts), "host_min_ms": min(hosts),
           "step_ms": statistics.median(steps), "step_min_ms": min(steps),
           "cached": engine.block_manager.cache_hit_tokens}
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        warm_host_ms(engine, typed())
        profiler.disable()
        print(f"--- profile of one warm add_request + schedule at {context} ---")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(12)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contexts", default="2048,16384,32768")
    parser.add_argument("--file-tokens", type=int, default=1500)
    parser.add_argument("--typed", type=int, default=8)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="cProfile one warm request per context")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    contexts = [int(c) for c in args.contexts.split(",")]
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(max(contexts) + args.file_tokens + args.typed + 64, Path(tmp) / "model")
        rows = [measure(engine, context, args, rng) for context in contexts]
    print("| repo ctx | prompt | host ms (add_request + schedule) | min "
          "| first token ms (tiny model) | min |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['context']} | {r['prompt']} | {r['host_ms']:.2f} | {r['host_min_ms']:.2f} "
              f"| {r['step_ms']:.2f} | {r['step_min_ms']:.2f} |")


if __name__ == "__main__":
    main()
