"""`codepager explain FILE:LINE[:COL]`: what the repository index knows about the symbol there —
its definition, signature, docstring and references (no model needed)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from codepager.cli.complete import find_repo, parse_position
from codepager.errors import RequestError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("explain", help="explain the symbol at FILE:LINE[:COL] from the repository index")
    parser.add_argument("position", help="FILE:LINE[:COL], 1-based; without COL the line's first name")
    parser.add_argument("--repo", type=Path, help="repository root (default: the git root above FILE)")
    parser.add_argument("--cache-dir", type=Path, help="index location (default: user cache dir)")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of markdown")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from codepager.context.explain import IndexSymbols, explain_at
    from codepager.indexer.config import IndexConfig
    from codepager.indexer.index import RepositoryIndex

    file, line, col = parse_position(args.position, need_column=False)
    file = file.expanduser().resolve()
    repo = (args.repo or find_repo(file)).expanduser().resolve()
    with RepositoryIndex.open(repo, IndexConfig(cache_dir=args.cache_dir)) as index:
        index.build()
        rel = index.relative(file)
        if not file.is_file():
            raise RequestError(f"{rel}: no such file in {repo}")
        data = file.read_bytes()
        if b"\0" in data[:8192]:
            raise RequestError(f"{rel} is a binary file")
        explanation = explain_at(IndexSymbols(index), rel, data.decode("utf-8", errors="replace"), line, col)
    if args.json:
        print(json.dumps({**explanation.to_dict(), "markdown": explanation.markdown()}, ensure_ascii=False))
    else:
        print(explanation.markdown())
    return 0
