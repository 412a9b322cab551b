"""Tokens per second of model sizes (compiled, bf16) on the real data stream: `train.py --measure s15 s20`."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from train import autocast, build_model, loss_function, make_optimizer, next_batch, save_model


def measure(args: argparse.Namespace, rows_iter, vocab: int, eos: int, stream) -> dict:
    """Tokens per second of each size (compiled, bf16) on the real data stream."""
    results = {}
    for size in args.measure:
        model = build_model(size, vocab, args.seed, eos).to(args.device)
        optimizer = make_optimizer(model, args)
        forward_loss = loss_function(model)
        compiled = forward_loss if args.no_compile else torch.compile(forward_loss)
        t_compile = time.time()
        timings = []
        for step in range(args.steps):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            tick = time.time()
            for _ in range(args.accum):
                batch = next_batch(rows_iter, args)
                with autocast(args):
                    loss = compiled(batch) / args.accum
                loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            float(loss.detach())
            timings.append(time.time() - tick)
            if step == 0:
                t_compile = time.time() - t_compile
        steady = float(np.median(timings[2:])) if len(timings) > 3 else float(np.mean(timings))
        tokens = args.accum * args.micro_batch * args.seq_len
        results[size] = {"parameters": sum(p.numel() for p in model.parameters()),
                         "first_step_s": t_compile, "step_s": steady, "tok_per_s": tokens / steady,
                         "last_loss": float(loss.detach()) * args.accum,
                         "peak_mem_gb": (torch.cuda.max_memory_allocated() / 2**30)
                         if args.device.startswith("cuda") else 0.0}
        print(json.dumps({size: results[size]}), flush=True)
        if size == args.measure[-1]:
            save_model(model, args.out, eos, eos)  # exercises the saving path
        del model, optimizer, compiled
    results["stream_tokens_built"] = stream.tokens_built
    (args.out / "measure.json").write_text(json.dumps(results, indent=1))
    stream.close()
    return results
