"""`codepager generate --model DIR --prompt TEXT`: run the raw engine on one prompt (greedy by
default). Streams the text to stdout, or prints one JSON object with --json."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from codepager.errors import ConfigError

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "default_model"


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("generate", help="complete a raw prompt with the engine (no repository context)")
    parser.add_argument("--model", type=Path, help="Hugging Face model directory (default: embedded model)")
    prompt = parser.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--prompt", help="prompt text")
    prompt.add_argument("--prompt-file", type=Path, help="read the prompt from this file")
    parser.add_argument("--max-tokens", type=int, default=64, help="new tokens at most (default 64)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (default 1.0)")
    parser.add_argument("--seed", type=int, help="sampling seed")
    parser.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    parser.add_argument("--ignore-eos", action="store_true", help="keep going past end-of-text tokens")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from codepager.engine.config import EngineConfig, SamplingParams
    from codepager.engine.llm_engine import LLMEngine
    from codepager.engine.sequence import pages_for
    from codepager.model.loader import load_model

    model_dir = args.model or DEFAULT_MODEL_DIR
    if args.model is None and not model_dir.is_dir():
        raise ConfigError("no --model given and no embedded default model is installed")
    prompt_text = args.prompt if args.prompt is not None else _read_prompt(args.prompt_file)
    params = SamplingParams(max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p,
                            seed=args.seed, stop=args.stop, ignore_eos=args.ignore_eos)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device

    started = time.perf_counter()
    loaded = load_model(model_dir, device=device)
    loaded_at = time.perf_counter()
    # one request: size the pool for it (prompt length is checked against the context on add)
    needed = len(loaded.tokenizer.encode(prompt_text)) + args.max_tokens + 2
    engine_pages = pages_for(min(needed, loaded.config.max_position_embeddings + 1))
    engine = LLMEngine(loaded, EngineConfig(num_pages=engine_pages, max_num_seqs=1, device=device))

    first_token_at = None
    final = None
    for out in engine.stream(prompt_text, params):
        if first_token_at is None and out.new_token_ids:
            first_token_at = time.perf_counter()
        if not args.json and out.new_text:
            sys.stdout.write(out.new_text)
            sys.stdout.flush()
        final = out
    done = time.perf_counter()
    assert final is not None
    if args.json:
        result = {
            "token_ids": final.token_ids,
            "text": final.text,
            "finish_reason": final.finish_reason,
            "prompt_tokens": final.num_prompt_tokens,
            "completion_tokens": len(final.token_ids),
            "timings_ms": {
                "load": round(1000 * (loaded_at - started), 2),
                "first_token": round(1000 * ((first_token_at or done) - loaded_at), 2),
                "total": round(1000 * (done - loaded_at), 2),
            },
        }
        print(json.dumps(result, ensure_ascii=False))
    else:
        sys.stdout.write("\n")
    return 0


def _read_prompt(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read prompt file {path}: {err}") from err
