"""A deterministic, resumable stream of packed training sequences built by a pool of worker processes.

Work units are the files of one directory of one repository. Epoch e visits the units in an order
drawn from Random(seed + e) and builds each unit's samples with seed (seed, e), so every epoch sees
new FIM holes and contexts. Workers tokenize; the parent packs token ids into rows of seq_len + 1
(samples run on across rows, each ends with <|endoftext|>). The stream's position (epoch, next
unit, leftover tokens) is all a checkpoint needs to resume it exactly.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import posixpath
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

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


def _init_worker(repos: list[Repository], tokenizer_path: str, cfg: SampleConfig) -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _WORKER["repos"] = repos
    _WORKER["tokenizer"] = Tokenizer.from_file(tokenizer_path)
    _WORKER["cfg"] = cfg


def build_unit(job: tuple[Unit, int]) -> np.ndarray:
    unit, seed = job
    repo = _WORKER["repos"][unit.repo]
    view = RepoView(repo.name, repo.root, repo.files)
    texts = samples_for_unit(view, list(unit.files), seed, _WORKER["cfg"])
    if not texts:
        return np.zeros(0, dtype=np.uint16)
    encoded = _WORKER["tokenizer"].encode_batch(texts)
    return np.concatenate([np.asarray(e.ids, dtype=np.uint16) for e in encoded])


class SequenceStream:
    """Rows of seq_len + 1 token ids, endlessly, in a fixed order given the seed."""

    def __init__(self, repos: list[Repository], tokenizer_path: str, seq_len: int, seed: int, workers: int,
                 cfg: SampleConfig | None = None, state: StreamState | None = None) -> None:
        self.repos = repos
        self.units = units_of(repos)
        self.seq_len = seq_len
        self.seed = seed
        self.state = state or StreamState()
        self.tokens_built = 0
        ctx = mp.get_context("fork")
        self.pool = ctx.Pool(workers, _init_worker, (repos, tokenizer_path, cfg or SampleConfig()))

    def epoch_order(self, epoch: int) -> list[Unit]:
        order = list(self.units)
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        return order

    def rows(self) -> Iterator[np.ndarray]:
        row = self.seq_len + 1
        buffer = np.asarray(self.state.leftover, dtype=np.int64)
        while True:
            order = self.epoch_order(self.state.epoch)
            jobs = [(u, self.seed * 1_000_003 + self.state.epoch) for u in order[self.state.next_unit :]]
            for ids in self.pool.imap(build_unit, jobs, chunksize=4):
                self.state.next_unit += 1
                self.tokens_built += len(ids)
                buffer = np.concatenate([buffer, ids.astype(np.int64)])
                full = len(buffer) // row
                for i in range(full):
                    self.state.leftover = buffer[(i + 1) * row :]
                    yield buffer[i * row : (i + 1) * row]
                buffer = buffer[full * row :]
                self.state.leftover = buffer
            self.state.epoch += 1
            self.state.next_unit = 0

    def close(self) -> None:
        self.pool.terminate()


def fixed_rows(repos: list[Repository], tokenizer_path: str, seq_len: int, seed: int, count: int,
               workers: int) -> np.ndarray:
    """The first `count` rows over `repos` (held-out evaluation data): (count, seq_len + 1)."""
    stream = SequenceStream(repos, tokenizer_path, seq_len, seed, workers)
    rows = []
    for r in stream.rows():
        rows.append(r)
        if len(rows) == count or stream.state.epoch > 0:
            break
    stream.close()
    return np.stack(rows)
