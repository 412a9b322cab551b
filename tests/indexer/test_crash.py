"""SIGKILL an indexing process at random points: the store stays consistent and a re-run completes it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers_index import dump, make_repo, repo_config

from codepager.indexer.index import RepositoryIndex
from codepager.indexer.store import IndexStore

KILLS = 6
INDEXER = """
import sys
from pathlib import Path
from codepager.indexer.config import IndexConfig
from codepager.indexer.index import RepositoryIndex
index = RepositoryIndex.open(Path(sys.argv[1]), IndexConfig(cache_dir=Path(sys.argv[2]), workers=1))
print("started", flush=True)
index.build()
print("done", flush=True)
"""


def generated_files(count: int) -> dict[str, str]:
    files = {}
    for i in range(count):
        body = "".join(f"\n\ndef func_{i}_{j}(value):\n    return helper_{(i + 1) % count}(value) + {j}\n"
                       for j in range(6))
        other = (i + 1) % count
        files[f"pkg{i % 7}/mod_{i}.py"] = (f"from pkg{other % 7}.mod_{other} import func_{other}_0\n\n\n"
                                           f"class Thing{i}:\n    def method(self):\n        return {i}\n"
                                           f"{body}\n\ndef helper_{i}(value):\n    return value\n")
    return files


def run_indexer(repo: Path, cache: Path, kill_after_s: float | None) -> bool:
    """Run the indexing process; SIGKILL it kill_after_s after it started. True if it ran to the end."""
    proc = subprocess.Popen([sys.executable, "-c", INDEXER, str(repo), str(cache)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "started"
    if kill_after_s is not None:
        time.sleep(kill_after_s)
        os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)
    return "done" in out


def test_sigkill_at_random_points_leaves_a_consistent_store(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, generated_files(300))
    started = time.monotonic()
    with RepositoryIndex.open(repo, repo_config(tmp_path, "clean", workers=1)) as clean:
        clean.build()
        expected = dump(clean.store)
    full_s = time.monotonic() - started

    cache = tmp_path / "crashed"
    store_dir = repo_config(tmp_path, "crashed").store_dir(repo)
    rng = random.Random(1234)
    completed_files = []
    for _ in range(KILLS):
        if run_indexer(repo, cache, rng.uniform(0.0, full_s * 0.6)):
            break
        with IndexStore(store_dir) as store:
            assert store.consistency_problems() == []
            completed_files.append(len(list(store.files())))
    assert any(0 < n < 300 for n in completed_files), f"no kill landed mid-build: {completed_files}"
    assert completed_files == sorted(completed_files)  # each run kept what the previous ones wrote

    assert run_indexer(repo, cache, None)
    with IndexStore(store_dir) as store:
        assert store.consistency_problems() == []
        assert dump(store) == expected
