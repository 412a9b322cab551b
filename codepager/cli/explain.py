"""`codepager explain FILE:LINE[:COL]`: what the repository knows about the symbol there — its
definition, signature, docstring, what it calls, its callers and references, its recent git
history — and, with `--model` pointing at an instruct model (one with a chat template), a short
explanation the model writes from those facts, streamed as it is generated."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from codepager.cli.complete import find_repo, parse_position
from codepager.errors import ConfigError, RequestError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("explain", help="explain the symbol at FILE:LINE[:COL] from the repository index")
    parser.add_argument("position", help="FILE:LINE[:COL], 1-based; without COL the line's first name")
    parser.add_argument("--repo", type=Path, help="repository root (default: the git root above FILE)")
    parser.add_argument("--cache-dir", type=Path, help="index location (default: user cache dir)")
    parser.add_argument("--model", type=Path,
                        help="an instruct model directory with a chat template: adds a written explanation")
    parser.add_argument("--max-tokens", type=int, default=256, help="length of the written explanation")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default), with --model")
    parser.add_argument("--no-history", action="store_true", help="skip the git history")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of markdown")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from codepager.context.explain import IndexSymbols, add_history, explain_at
    from codepager.indexer.config import IndexConfig
    from codepager.indexer.index import RepositoryIndex

    if args.max_tokens < 1:
        raise ConfigError(f"--max-tokens must be at least 1, got {args.max_tokens}")
    file, line, col = parse_position(args.position, need_column=False)
    file = file.expanduser().resolve()
    repo = (args.repo or find_repo(file)).expanduser().resolve()
    engine = _load_engine(args) if args.model is not None else None
    with RepositoryIndex.open(repo, IndexConfig(cache_dir=args.cache_dir)) as index:
        index.build()
        rel = index.relative(file)
        if not file.is_file():
            raise RequestError(f"{rel}: no such file in {repo}")
        data = file.read_bytes()
        if b"\0" in data[:8192]:
            raise RequestError(f"{rel} is a binary file")
        explanation = explain_at(IndexSymbols(index), rel, data.decode("utf-8", errors="replace"), line, col)
    if not args.no_history:
        add_history(explanation, repo)
    if engine is not None:
        _write_prose(engine, explanation, args)
    elif args.json:
        print(json.dumps({**explanation.to_dict(), "markdown": explanation.markdown()}, ensure_ascii=False))
    else:
        print(explanation.markdown(), end="")
    return 0


def _load_engine(args: argparse.Namespace) -> Any:
    import torch

    from codepager.engine.config import EngineConfig
    from codepager.engine.llm_engine import LLMEngine

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    return LLMEngine.from_model_dir(args.model.expanduser(), EngineConfig(device=device))


def _write_prose(engine: Any, explanation: Any, args: argparse.Namespace) -> None:
    """Markdown: the facts at once, then the model's words as they come; JSON: everything at the end."""
    from codepager.context.explain_prose import write_prose

    if args.json:
        explanation.prose = write_prose(engine, explanation, max_tokens=args.max_tokens)
        print(json.dumps({**explanation.to_dict(), "markdown": explanation.markdown()}, ensure_ascii=False))
        return
    print(explanation.markdown(), end="", flush=True)
    started: list[bool] = []

    def show(piece: str) -> None:
        if not started:
            started.append(True)
            sys.stdout.write("\n---\n\n")
            piece = piece.lstrip()
        sys.stdout.write(piece)
        sys.stdout.flush()

    explanation.prose = write_prose(engine, explanation, max_tokens=args.max_tokens, on_text=show)
    if started:
        sys.stdout.write("\n")
