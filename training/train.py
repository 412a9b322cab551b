"""Train codepager's default model end to end in one process (see training/README.md).

corpus -> tokenizer -> streamed repository-level samples (worker pool) -> LlamaForCausalLM (bf16 autocast,
torch.compile, AdamW, cosine) -> held-out loss -> sharded safetensors. Deterministic given --seed (data
order, sample drawing and initialisation; GPU reduction order aside); --ckpt saves everything needed to
resume with --resume, so a run can be cut into slices of a few minutes. --init-from starts a new stage
from a saved model's weights with a fresh optimiser (warmup, then cosine to the floor); with
--anneal-by-deadline the cosine follows wall-clock time when that is ahead of the step count, so a
slice of fixed length always ends at the floor LR.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import corpus
import numpy as np
import tokenizer_train
import torch
import torch.nn.functional as F
from data_stream import SequenceStream, StreamState, fixed_rows
from python_segments import BACKEND

# Llama shapes tried by --measure (head_dim 64 everywhere, GQA).
SIZES = {
    "tiny": dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1),
    "s10": dict(hidden_size=320, intermediate_size=864, num_hidden_layers=8, num_attention_heads=5,
                num_key_value_heads=1),
    "s15": dict(hidden_size=384, intermediate_size=1024, num_hidden_layers=8, num_attention_heads=6,
                num_key_value_heads=2),
    "s20": dict(hidden_size=448, intermediate_size=1216, num_hidden_layers=9, num_attention_heads=7,
                num_key_value_heads=1),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="model directory and logs go here")
    p.add_argument("--size", default="s15", choices=sorted(SIZES))
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--micro-batch", type=int, default=64)
    p.add_argument("--accum", type=int, default=2)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    p.add_argument("--tokenizer", type=Path, help="an existing tokenizer.json (else one is trained)")
    p.add_argument("--tokenizer-sample-mb", type=float, default=64)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--eval-rows", type=int, default=48)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--deadline-s", type=float, default=0, help="stop (and save) after this many seconds")
    p.add_argument("--slice-steps", type=int, default=0, help="run at most this many steps now (resumable)")
    p.add_argument("--ckpt", type=Path, help="save a resumable checkpoint here at the end")
    p.add_argument("--resume", type=Path, help="resume from this checkpoint")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--measure", nargs="*", help="time these sizes for --steps steps each and exit")
    p.add_argument("--init-from", type=Path, help="start from this saved model's weights (a new stage)")
    p.add_argument("--anneal-by-deadline", action="store_true",
                   help="decay the LR by elapsed time too: the floor comes --reserve-s before the deadline")
    p.add_argument("--reserve-s", type=float, default=25, help="seconds kept for final evaluation and save")
    p.add_argument("--prefetch", type=int, default=0, help="sample units built ahead (default 64 per worker)")
    p.add_argument("--max-repos", type=int, default=0, help="use only the first N repositories (tests)")
    return p.parse_args(argv)


def build_model(size: str, vocab: int, seed: int, eos: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab, max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=10000.0,
        tie_word_embeddings=True, attention_bias=False, mlp_bias=False, hidden_act="silu",
        bos_token_id=None, eos_token_id=eos, pad_token_id=eos, initializer_range=0.02, use_cache=True,
        **SIZES[size],
    )
    config._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def lr_at(step: int, args: argparse.Namespace, time_progress: float = 0.0) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, max(time_progress, (step - args.warmup) / max(1, args.steps - args.warmup)))
    floor = args.lr * args.min_lr_ratio
    return floor + (args.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model, args: argparse.Namespace) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n)]
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": other, "weight_decay": 0.0}]
    fused = args.device.startswith("cuda")
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=fused)


def loss_function(model):
    def forward_loss(rows: torch.Tensor) -> torch.Tensor:
        inputs, targets = rows[:, :-1], rows[:, 1:]  # (B, T) each
        logits = model(input_ids=inputs, use_cache=False).logits  # (B, T, V)
        return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1))

    return forward_loss


def autocast(args: argparse.Namespace):
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    return torch.autocast(device_type=args.device.split(":")[0], dtype=dtype,
                          enabled=args.device.startswith("cuda"))


@torch.no_grad()
def held_out_loss(forward_loss, rows: np.ndarray, args: argparse.Namespace) -> float:
    losses = []
    for start in range(0, len(rows), 16):
        batch = torch.from_numpy(rows[start : start + 16]).to(args.device)
        with autocast(args):
            losses.append(float(forward_loss(batch)))
    return float(np.mean(losses))


def warm_compile(compiled, model, args: argparse.Namespace, vocab: int) -> None:
    """Compile forward and backward on a dummy batch while the workers build the first samples."""
    rows = torch.randint(0, vocab, (args.micro_batch, args.seq_len + 1), device=args.device)
    with autocast(args):
        loss = compiled(rows)
    loss.backward()
    model.zero_grad(set_to_none=True)


def time_progress(train_start: float, started: float, args: argparse.Namespace) -> float:
    """Fraction of the training window (from the first step to deadline - reserve) that has passed."""
    if not (args.anneal_by_deadline and args.deadline_s):
        return 0.0
    window = started + args.deadline_s - args.reserve_s - train_start
    return (time.time() - train_start) / max(1.0, window)


def load_weights(model, directory: Path) -> None:
    from transformers import LlamaForCausalLM

    saved = LlamaForCausalLM.from_pretrained(directory, dtype=torch.float32)
    model.load_state_dict(saved.state_dict())


def next_batch(rows_iter, args: argparse.Namespace) -> torch.Tensor:
    batch = np.stack([next(rows_iter) for _ in range(args.micro_batch)])  # (B, T+1)
    return torch.from_numpy(batch).to(args.device, non_blocking=True)


def train(args: argparse.Namespace) -> dict:
    started = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    repos, refused = corpus.all_repositories()
    train_repos, held = corpus.split(repos)
    if args.max_repos:
        train_repos, held = train_repos[: args.max_repos], held[:1]
    manifest = {"train": corpus.summary(train_repos), "held_out": corpus.summary(held), "refused": refused,
                "segmenter": BACKEND}
    (args.out / "corpus.json").write_text(json.dumps(manifest, indent=1))
    tok_path = args.out / "tokenizer.json"
    if args.init_from and not args.tokenizer:
        args.tokenizer = args.init_from / "tokenizer.json"
    if args.tokenizer:
        tok_path.write_bytes(args.tokenizer.read_bytes())
        config_text = json.dumps(tokenizer_train.tokenizer_config(), indent=2)
        (args.out / "tokenizer_config.json").write_text(config_text)
    else:
        paths = [r.root / f for r in train_repos for f in r.files]
        texts = tokenizer_train.sample_texts(paths, int(args.tokenizer_sample_mb * 2**20), args.seed)
        tokenizer_train.save(tokenizer_train.train(texts, args.vocab), args.out)
    print(f"[{time.time() - started:.0f}s] tokenizer ready; segmenter={BACKEND}", flush=True)

    ckpt = torch.load(args.resume, weights_only=False) if args.resume else None
    state = StreamState(**ckpt["stream"]) if ckpt else None
    eval_rows = fixed_rows(held, str(tok_path), args.seq_len, 1234, args.eval_rows, args.workers)
    stream = SequenceStream(train_repos, str(tok_path), args.seq_len, args.seed, args.workers, state=state,
                            prefetch=args.prefetch)
    rows_iter = stream.rows()
    print(f"[{time.time() - started:.0f}s] data ready: {len(stream.units)} units, {len(eval_rows)} eval rows",
          flush=True)

    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tok_path)).get_vocab_size()
    eos = Tokenizer.from_file(str(tok_path)).token_to_id(tokenizer_train.EOS)
    if args.measure:
        from measure import measure

        return measure(args, rows_iter, vocab, eos, stream)
    model = build_model(args.size, vocab, args.seed, eos)
    if args.init_from:
        load_weights(model, args.init_from)
    model = model.to(args.device)
    optimizer = make_optimizer(model, args)
    log: list[dict] = []
    start_step = 0
    if ckpt:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optim"])
        start_step, log = ckpt["step"], ckpt["log"]
    forward_loss = loss_function(model)
    compiled = forward_loss if args.no_compile else torch.compile(forward_loss)
    params = sum(p.numel() for p in model.parameters())
    print(f"[{time.time() - started:.0f}s] model {args.size}: {params / 1e6:.2f}M parameters", flush=True)
    if not args.no_compile:
        warm_compile(compiled, model, args, vocab)
        print(f"[{time.time() - started:.0f}s] compiled; {stream.ready_units()} units ready", flush=True)
    if args.init_from and not ckpt:
        log.append({"step": 0, "held_out_loss": round(held_out_loss(forward_loss, eval_rows, args), 4),
                    "elapsed_s": round(time.time() - started, 1)})
        print(json.dumps(log[-1]), flush=True)
    step = start_step
    train_start = tick = time.time()
    tokens_since, waited = 0, 0.0
    while step < args.steps:
        progress = time_progress(train_start, started, args)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args, progress)
        total = 0.0
        for _ in range(args.accum):
            before = time.time()
            batch = next_batch(rows_iter, args)
            waited += time.time() - before
            with autocast(args):
                loss = compiled(batch) / args.accum
            loss.backward()
            total += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens_since += args.accum * args.micro_batch * args.seq_len
        entry = None
        if step % args.log_every == 0 or step == args.steps:
            now = time.time()
            entry = {"step": step, "loss": round(total, 4), "lr": round(lr_at(step - 1, args, progress), 6),
                     "tok_per_s": round(tokens_since / (now - tick)), "elapsed_s": round(now - started, 1),
                     "epoch": stream.state.epoch, "data_wait": round(waited / (now - tick), 3),
                     "built_ahead": stream.ready_units()}
            tick, tokens_since, waited = now, 0, 0.0
        if step % args.eval_every == 0 or step == args.steps:
            entry = entry or {"step": step, "loss": round(total, 4),
                              "elapsed_s": round(time.time() - started, 1)}
            entry["held_out_loss"] = round(held_out_loss(forward_loss, eval_rows, args), 4)
        if entry:
            log.append(entry)
            print(json.dumps(entry), flush=True)
        if args.deadline_s and time.time() - started > args.deadline_s:
            print(f"deadline reached at step {step}", flush=True)
            break
        if progress >= 1.0 and step > args.warmup:
            print(f"LR floor reached by the clock at step {step}", flush=True)
            break
        if args.slice_steps and step - start_step >= args.slice_steps:
            break
    final = held_out_loss(forward_loss, eval_rows, args)
    if not log or log[-1]["step"] != step or "held_out_loss" not in log[-1]:
        log.append({"step": step, "held_out_loss": round(final, 4),
                    "elapsed_s": round(time.time() - started, 1)})
    summary = {"size": args.size, "parameters": params, "steps": step, "planned_steps": args.steps,
               "init_from": str(args.init_from) if args.init_from else None,
               "tokens": step * args.accum * args.micro_batch * args.seq_len, "held_out_loss": final,
               "seconds": round(time.time() - started, 1), "epochs_of_data": stream.state.epoch,
               "tokens_built": stream.tokens_built, "args": {k: str(v) for k, v in vars(args).items()}}
    (args.out / "train_log.json").write_text(json.dumps({"summary": summary, "log": log}, indent=1))
    if args.ckpt:
        torch.save({"model": model.state_dict(), "optim": optimizer.state_dict(), "step": step, "log": log,
                    "stream": {"epoch": stream.state.epoch, "next_unit": stream.state.next_unit,
                               "leftover": stream.state.leftover.copy()}}, args.ckpt)
    stream.close()
    save_model(model, args.out, eos, Tokenizer.from_file(str(tok_path)).token_to_id(tokenizer_train.FILE_SEP))
    print(json.dumps(summary), flush=True)
    return summary


def save_model(model, out: Path, eos: int, file_sep: int) -> None:
    from transformers import GenerationConfig

    model = model.to("cpu", torch.bfloat16)
    model.config.dtype = "bfloat16"
    model.generation_config = GenerationConfig(eos_token_id=[eos, file_sep], pad_token_id=eos,
                                               do_sample=False)
    model.save_pretrained(out, max_shard_size="14MB", safe_serialization=True)


if __name__ == "__main__":
    train(parse_args())
