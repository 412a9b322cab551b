"""IndexConfig: every setting of the repository index, validated on construction."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import platformdirs

from codepager.indexer.errors import IndexerError


@dataclass(frozen=True, slots=True)
class IndexConfig:
    cache_dir: Path | None = None  # default: platformdirs.user_cache_dir("codepager")
    max_file_bytes: int = 1_000_000
    map_size: int = 64 << 20  # initial LMDB map size; doubled whenever it fills up
    workers: int = 0  # parsing processes; 0 = one per CPU core
    min_files_for_pool: int = 32  # below this many files to parse, parse in-process
    debounce_s: float = 0.05  # watcher: quiet time before a batch is processed
    max_batch_delay_s: float = 0.5  # watcher: a steady stream of events is still flushed this often
    sync: bool = False  # fsync each commit; off: a SIGKILL loses nothing, a power loss the last commits

    def __post_init__(self) -> None:
        if self.cache_dir is not None and not isinstance(self.cache_dir, Path):
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        for name in ("max_file_bytes", "map_size", "min_files_for_pool"):
            if getattr(self, name) <= 0:
                raise IndexerError(f"index setting {name} must be positive, got {getattr(self, name)}")
        if self.workers < 0:
            raise IndexerError(f"index setting workers must be >= 0, got {self.workers}")
        if self.debounce_s < 0 or self.max_batch_delay_s < self.debounce_s:
            raise IndexerError("index settings need 0 <= debounce_s <= max_batch_delay_s")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise IndexerError(f"unknown index setting(s): {', '.join(unknown)}")
        return cls(**data)

    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    def store_dir(self, root: Path) -> Path:
        """Where the LMDB environment of the repository at `root` lives (outside it unless configured)."""
        base = self.cache_dir or Path(platformdirs.user_cache_dir("codepager"))
        key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:20]
        return base / "index" / key
