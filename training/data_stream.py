"""A deterministic, resumable stream of packed training sequences built by a pool of worker processes.

Work units are the files of one directory of one repository. Epoch e visits the units in an order
drawn from Random(seed + e) and builds each unit's samples with seed (seed, e), so every epoch sees
new FIM holes and contexts. Workers tokenize; the parent packs token ids into rows of seq_len + 1
(samples run on across rows, each ends with <|endoftext|>). The stream's position (epoch, next
unit, leftover tokens) is all a checkpoint needs to resume it exactly.

Throughput (the GPU must not wait): each worker keeps its repositories' views (parsed files and
similarity windows) across units and epochs, parsed files are shared between workers through a
view cache directory, and up to `prefetch` units are in flight at any time, across epoch ends, so the
pool never drains and builds ahead while the model compiles.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import posixpath
import random
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from corpus import Repository
from samples import RepoView, SampleConfig, samples_for_unit
from tokenizers import Tokenizer

_WORKER: dict = {}


@dataclass(frozen=True, slots=True)
class Unit:
    repo: int  # index into the repository list
    files: tuple[str, ...]


@dataclass
class StreamState:
    epoch: int = 0
    next_unit: int = 0
    leftover: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def units_of(repos: list[Repository], max_files: int = 16) -> list[Unit]:
    units = []
    for index, repo in enumerate(repos):
        by_dir: dict[str, list[str]] = {}
        for path in repo.files:
            by_dir.setdefault(posixpath.dirname(path), []).append(path)
        for _, files in sorted(by_dir.items()):
            for start in range(0, len(files), max_files):
                units.append(Unit(index, tuple(files[start : start + max_files])))
    return units


MAX_CACHED_FILES = 6000  # per worker; windows of this many files are ~1-2 GB of Python objects


def _init_worker(repos: list[Repository], tokenizer_path: str, cfg: SampleConfig,
                 view_cache: str | None = None) -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _WORKER["repos"] = repos
    _WORKER["tokenizer"] = Tokenizer.from_file(tokenizer_path)
    _WORKER["cfg"] = cfg
    _WORKER["view_cache"] = Path(view_cache) if view_cache else None
    _WORKER["views"] = {}


def _repo_view(index: int) -> RepoView:
    views: dict[int, RepoView] = _WORKER.setdefault("views", {})
    if sum(len(v._windows) + len(v._views) for v in views.values()) > MAX_CACHED_FILES:
        views.clear()
    if index not in views:
        repo = _WORKER["repos"][index]
        views[index] = RepoView(repo.name, repo.root, repo.files, _WORKER.get("view_cache"))
    return views[index]


def build_unit(job: tuple[Unit, int]) -> np.ndarray:
    unit, seed = job
    texts = samples_for_unit(_repo_view(unit.repo), list(unit.files), seed, _WORKER["cfg"])
    if not texts:
        return np.zeros(0, dtype=np.uint16)
    encoded = _WORKER["tokenizer"].encode_batch(texts)
    return np.concatenate([np.asarray(e.ids, dtype=np.uint16) for e in encoded])


class SequenceStream:
    """Rows of seq_len + 1 token ids, endlessly, in a fixed order given the seed."""

    def __init__(self, repos: list[Repository], tokenizer_path: str, seq_len: int, seed: int, workers: int,
                 cfg: SampleConfig | None = None, state: StreamState | None = None,
                 prefetch: int = 0) -> None:
        self.repos = repos
        self.units = units_of(repos)
        self.seq_len = seq_len
        self.seed = seed
        self.state = state or StreamState()
        self.tokens_built = 0
        self.prefetch = prefetch or 64 * workers
        self.view_cache = tempfile.mkdtemp(prefix="codepager-views-", dir="/dev/shm" if
                                           os.path.isdir("/dev/shm") else None)
        ctx = mp.get_context("fork")
        self.pool = ctx.Pool(workers, _init_worker,
                             (repos, tokenizer_path, cfg or SampleConfig(), self.view_cache))
        self._in_flight: deque = deque()
        self._jobs = self._job_order()
        self._fill()  # start building now: the model compiles meanwhile

    def epoch_order(self, epoch: int) -> list[Unit]:
        order = list(self.units)
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        return order

    def _job_order(self) -> Iterator[tuple[Unit, int]]:
        """Every unit from the stream's position on, epoch after epoch."""
        epoch, first = self.state.epoch, self.state.next_unit
        while True:
            for unit in self.epoch_order(epoch)[first:]:
                yield unit, self.seed * 1_000_003 + epoch
            epoch, first = epoch + 1, 0

    def _fill(self) -> None:
        while len(self._in_flight) < self.prefetch:
            self._in_flight.append(self.pool.apply_async(build_unit, (next(self._jobs),)))

    def _next_unit_ids(self) -> np.ndarray:
        self._fill()
        ids = self._in_flight.popleft().get()
        self.state.next_unit += 1
        if self.state.next_unit == len(self.units):
            self.state.epoch += 1
            self.state.next_unit = 0
        return ids

    def rows(self) -> Iterator[np.ndarray]:
        row = self.seq_len + 1
        buffer = np.asarray(self.state.leftover, dtype=np.int64)
        while True:
            ids = self._next_unit_ids()
            self.tokens_built += len(ids)
            buffer = np.concatenate([buffer, ids.astype(np.int64)])
            full = len(buffer) // row
            for i in range(full):
                self.state.leftover = buffer[(i + 1) * row :]
                yield buffer[i * row : (i + 1) * row]
            buffer = buffer[full * row :]
            self.state.leftover = buffer

    def ready_units(self) -> int:
        """Units built and waiting to be consumed (a starved stream shows 0)."""
        return sum(1 for job in self._in_flight if job.ready())

    def close(self) -> None:
        self.pool.terminate()
        shutil.rmtree(self.view_cache, ignore_errors=True)


def fixed_rows(repos: list[Repository], tokenizer_path: str, seq_len: int, seed: int, count: int,
               workers: int) -> np.ndarray:
    """The first `count` rows over `repos` (held-out evaluation data): (count, seq_len + 1)."""
    stream = SequenceStream(repos, tokenizer_path, seq_len, seed, workers, prefetch=4 * workers)
    rows = []
    for r in stream.rows():
        rows.append(r)
        if len(rows) == count or stream.state.epoch > 0:
            break
    stream.close()
    return np.stack(rows)
