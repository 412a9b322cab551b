"""Decode bursts on a GPU: per-token decode time of one warm stream for several burst lengths K
(greedy decode steps per host synchronisation), in one run on the same engine and prompt.

    python benchmarks/decode_burst.py [--shape 1.5b] [--context 16384] [--bursts 1,4,8,16,4]

K = 1 is the engine without bursts (one host round trip per token); every K > 1 runs with and
without the next burst launched ahead (decode_ahead); the last K is repeated to show run-to-run
spread. Random weights and prompt tokens (timing only), as benchmarks/e2e.py.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from e2e_setup import PromptMaker, build_models, make_engine  # benchmarks/ is on sys.path

from codepager.engine.config import SamplingParams
from codepager.engine.llm_engine import LLMEngine


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="1.5b")
    parser.add_argument("--context", type=int, default=16384)
    parser.add_argument("--file-tokens", type=int, default=1500)
    parser.add_argument("--tokens", type=int, default=160)
    parser.add_argument("--bursts", default="1,4,8,16,4")
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
    rows = []
    for burst in (int(k) for k in args.bursts.split(",")):
        for ahead in (False, True) if burst > 1 else (False,):
            engine.decode_burst, engine.decode_ahead = burst, ahead
            engine.generate([prompt + maker.tokens(8)], SamplingParams(max_tokens=40, ignore_eos=True))
            rows.append((burst, ahead, per_token_ms(engine, prompt + maker.tokens(8), args.tokens)))
            print(f"K={burst} ahead={ahead}: {rows[-1][2]:.3f} ms/token", flush=True)
    base = rows[0][2]
    print(f"\n{torch.cuda.get_device_name()}, shape {args.shape}, context {args.context} + "
          f"{args.file_tokens}, {args.tokens} tokens\n\n"
          f"| K | next burst launched ahead | ms/token | vs K={rows[0][0]} |\n|---|---|---|---|")
    for burst, ahead, ms in rows:
        print(f"| {burst} | {'yes' if ahead else 'no'} | {ms:.3f} | {base / ms:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
