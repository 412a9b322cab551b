"""`codepager index [REPO]`: build or update the repository index, with a progress bar on stderr."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from codepager.indexer.config import IndexConfig
from codepager.indexer.index import RepositoryIndex


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("index", help="build or update the index of a repository")
    parser.add_argument("repo", nargs="?", default=".", help="repository root (default: current directory)")
    parser.add_argument("--cache-dir", type=Path, help="where index stores live (default: user cache dir)")
    parser.add_argument("--workers", type=int, default=0, help="parsing processes (default: one per core)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


class ProgressBar:
    """One line on a terminal (redrawn at most 10 times a second), a line every few seconds elsewhere."""

    def __init__(self, stream: TextIO, width: int = 30):
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.last_drawn = 0.0
        self.drawn = False

    def update(self, done: int, total: int, path: str = "") -> None:
        now = time.monotonic()
        if done < total and now - self.last_drawn < (0.1 if self.tty else 5.0):
            return
        self.last_drawn = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else 0.0
        filled = int(self.width * done / total) if total else self.width
        line = (f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} files "
                f"{rate:7.1f} files/s  ETA {int(eta) // 60}:{int(eta) % 60:02d}")
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def run(args: argparse.Namespace) -> int:
    config = IndexConfig(cache_dir=args.cache_dir, workers=args.workers)
    with RepositoryIndex.open(args.repo, config) as index:
        bar = None if args.quiet else ProgressBar(sys.stderr)
        summary = index.build(progress=bar.update if bar else None)
        if bar:
            bar.finish()
        status = index.status()
    reasons = ", ".join(f"{r} {n}" for r, n in sorted(status["skipped_by_reason"].items()))
    print(f"indexed {index.root} in {summary.seconds:.2f} s: {summary.files} files "
          f"({summary.indexed} parsed, {summary.unchanged} unchanged, {summary.removed} removed), "
          f"{status['segments']} segments, {status['symbols']} symbols, "
          f"{len(status['skipped'])} skipped{f' ({reasons})' if reasons else ''}")
    print(f"store: {status['store']}")
    return 0
