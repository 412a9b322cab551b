"""`codepager status [REPO] [--json]`: what the index of a repository holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from codepager.indexer.config import IndexConfig
from codepager.indexer.errors import IndexerError
from codepager.indexer.index import RepositoryIndex

MAX_SKIPPED_LISTED = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("status", help="files, segments, symbols, languages and cache sizes of an index")
    parser.add_argument("repo", nargs="?", default=".", help="repository root (default: current directory)")
    parser.add_argument("--cache-dir", type=Path, help="where index stores live (default: user cache dir)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = IndexConfig(cache_dir=args.cache_dir)
    root = Path(args.repo).expanduser()
    if not root.is_dir():
        raise IndexerError(f"repository {root} is not a directory")
    if not config.store_dir(root).exists():
        raise IndexerError(f"{root.resolve()} is not indexed yet (run `codepager index {args.repo}`)")
    with RepositoryIndex.open(root, config) as index:
        status = index.status()
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render(status: dict[str, Any]) -> str:
    languages = ", ".join(f"{lang} {n}" for lang, n in status["languages"].items())
    reasons = ", ".join(f"{r} {n}" for r, n in sorted(status["skipped_by_reason"].items()))
    lines = [
        f"repository   {status['root']}",
        f"store        {status['store']} ({_size(status['store_bytes'])})",
        f"files        {status['files']}" + (f" ({languages})" if languages else ""),
        f"segments     {status['segments']}",
        f"symbols      {status['symbols']}",
        f"references   {status['references']}",
        f"kv cache     {status['kv_blobs']} blobs, {_size(status['kv_bytes'])}",
        f"skipped      {len(status['skipped'])}" + (f" ({reasons})" if reasons else ""),
    ]
    for item in status["skipped"][:MAX_SKIPPED_LISTED]:
        detail = f" ({item['detail']})" if item["detail"] else ""
        lines.append(f"  {item['path']}: {item['reason']}{detail}")
    if len(status["skipped"]) > MAX_SKIPPED_LISTED:
        lines.append(f"  ... and {len(status['skipped']) - MAX_SKIPPED_LISTED} more (see --json)")
    lines.append(f"last update  {status['last_update_iso'] or 'never'}")
    return "\n".join(lines)
