"""Indexing benchmark: cold `codepager index` beside `ctags -R` on the same tree, and watcher latency.

Trees (copied into temporary git repositories, never indexed in place):
  stdlib         this interpreter's standard library (site-packages left out)
  site-packages  this interpreter's site-packages, source files only (no .so / wheels / caches),
                 capped at --max-site-files files

For each: wall time (and CPU time) of `python -m codepager index` (fresh cache, one process per core)
and of `ctags -R` (universal-ctags), ratio = codepager / ctags, and the tree-sitter floor: the wall
time of only parsing every indexed file and running its tags query, on the same number of processes
(no Python work of ours, no store) -- what no amount of tuning of our own code can go below -- and
of parsing alone (no query). The floors' CPU is the sum of the parse (+ query) calls only. Then, on
the stdlib tree with a watcher running: 100 edits (a line appended to a random Python file), latency
from the write to the listener receiving the file's dirty segments, p50/p99, and the same without the
debounce wait.

    python benchmarks/index.py [--trees stdlib,site-packages] [--edits 100] [--max-site-files 20000]
                               [--repeat 1]
    python benchmarks/index.py --trees stdlib --edits 0     # cold index of the stdlib only
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

from tree_sitter import QueryCursor

from codepager.indexer.config import IndexConfig
from codepager.indexer.index import RepositoryIndex
from codepager.indexer.languages import language_named, parser_for, tags_query
from codepager.indexer.watcher import IndexWatcher

SOURCE_SUFFIXES = {".py", ".pyi", ".c", ".h", ".cc", ".cpp", ".hpp", ".cu", ".cuh", ".js", ".mjs", ".ts",
                   ".tsx", ".go", ".rs", ".java", ".md", ".rst", ".txt", ".toml", ".cfg", ".ini", ".json",
                   ".yaml", ".yml", ".sh", ".scm", ".html", ".css"}
SKIP_DIRS = {"__pycache__", "site-packages", ".git"}


def copy_tree(src: Path, dst: Path, *, sources_only: bool, max_files: int | None) -> int:
    copied = 0
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith((".dist-info",
                                                                                            ".egg-info")))
        rel = Path(dirpath).relative_to(src)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if sources_only and (path.suffix not in SOURCE_SUFFIXES or path.stat().st_size > 1_000_000):
                continue
            if path.is_symlink() or not path.is_file():
                continue
            (dst / rel).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dst / rel / name)
            copied += 1
            if max_files is not None and copied >= max_files:
                return copied
    return copied


def make_git_repo(path: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.com"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "tree"]):
        subprocess.run(cmd, cwd=path, env=env, check=True, capture_output=True)


def timed(cmd: list[str], **kwargs) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children: user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cold_index(repo: Path, work: Path, repeat: int) -> tuple[tuple[float, float], tuple[float, float], dict]:
    """Best of `repeat` runs of each (the machine is shared: the minimum is the least disturbed run)."""
    cache = work / f"cache-{repo.name}"
    ours, ctags = [], []
    for _ in range(repeat):
        shutil.rmtree(cache, ignore_errors=True)
        ours.append(timed([sys.executable, "-m", "codepager", "index", str(repo), "--cache-dir", str(cache),
                           "--quiet"]))
        ctags.append(timed(["ctags", "-R", "-f", str(work / f"tags-{repo.name}"), str(repo)]))
    with RepositoryIndex.open(repo, IndexConfig(cache_dir=cache)) as index:
        status = index.status()
    return min(ours), min(ctags), status


def _parse_and_query(job: tuple[str, str, bool]) -> float:
    """CPU seconds of parsing one file (and running its tags query)."""
    path, language, query = job
    spec = language_named(language)
    with open(path, "rb") as handle:
        data = handle.read()
    started = time.process_time()
    tree = parser_for(spec).parse(data)
    if query:
        QueryCursor(tags_query(spec)).matches(tree.root_node)
    del tree
    return time.process_time() - started


def tree_sitter_floor(repo: Path, cache: Path, repeat: int, *, query: bool = True) -> tuple[float, float]:
    """(wall, CPU) of tree-sitter's parse (+ tags query) alone over the files the index parsed."""
    with RepositoryIndex.open(repo, IndexConfig(cache_dir=cache)) as index:
        jobs = [(str(repo / r.path), r.language, query) for r in index.store.files()
                if not r.skip_reason and language_named(r.language) is not None]
    workers = IndexConfig().worker_count()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(_parse_and_query, jobs[:workers])  # warm: grammars and queries loaded in each worker
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            cpu = sum(pool.map(_parse_and_query, jobs, chunksize=16))
            runs.append((time.perf_counter() - started, cpu))
        return min(runs)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def edit_latency(repo: Path, work: Path, edits: int) -> dict[str, float]:
    config = IndexConfig(cache_dir=work / f"cache-{repo.name}")
    rng = random.Random(0)
    with RepositoryIndex.open(repo, config) as index:
        index.build()
        files = sorted(r.path for r in index.store.files() if r.path.endswith(".py") and not r.skip_reason)
        arrived = threading.Event()
        target: dict[str, object] = {}

        def listener(reports) -> None:
            if any(r.path == target.get("path") and r.added_segment_ids for r in reports):
                target["t"] = time.perf_counter()
                arrived.set()

        latencies, direct = [], []
        with IndexWatcher(index, listener):
            time.sleep(0.5)
            for i in range(edits):
                path = rng.choice(files)
                arrived.clear()
                target.clear()
                target["path"] = path
                started = time.perf_counter()
                with open(repo / path, "a") as handle:
                    handle.write(f"\n# edit {i}\n")
                if not arrived.wait(10):
                    raise RuntimeError(f"no dirty report for {path}")
                latencies.append(target["t"] - started)
                time.sleep(0.1)  # let the observer settle
        for i in range(edits):  # re-index alone, no watcher: the cost of one saved file
            path = rng.choice(files)
            with open(repo / path, "a") as handle:
                handle.write(f"\n# direct {i}\n")
            started = time.perf_counter()
            index.update_file(path)
            direct.append(time.perf_counter() - started)
    debounce = config.debounce_s
    return {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
            "p50_after_debounce": percentile(latencies, 0.5) - debounce,
            "p99_after_debounce": percentile(latencies, 0.99) - debounce,
            "update_p50": percentile(direct, 0.5), "update_p99": percentile(direct, 0.99),
            "mean": statistics.mean(latencies), "debounce": debounce}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", default="stdlib,site-packages")
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--max-site-files", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=1, help="cold runs per tree; the best is reported")
    args = parser.parse_args()
    if shutil.which("ctags") is None:
        sys.exit("ctags not found: apt-get install -y universal-ctags")
    print(f"# {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{subprocess.run(['ctags', '--version'], capture_output=True, text=True).stdout.split(',')[0]}, "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    sources = {"stdlib": (Path(sysconfig.get_paths()["stdlib"]), False, None),
               "site-packages": (Path(sysconfig.get_paths()["purelib"]), True, args.max_site_files)}
    with tempfile.TemporaryDirectory(prefix="codepager-bench-") as tmp:
        work = Path(tmp)
        print("| tree | files copied | files indexed | segments | symbols | codepager index s (CPU s) "
              "| ctags -R s (CPU s) | ratio | tree-sitter floor s (CPU s) | floor / ctags "
              "| parse-only s (CPU s) | parse-only / ctags |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for name in args.trees.split(","):
            src, sources_only, cap = sources[name]
            repo = work / name
            copied = copy_tree(src, repo, sources_only=sources_only, max_files=cap)
            make_git_repo(repo)
            (ours, ours_cpu), (ctags, ctags_cpu), status = cold_index(repo, work, args.repeat)
            floor, floor_cpu = tree_sitter_floor(repo, work / f"cache-{repo.name}", args.repeat)
            parse, parse_cpu = tree_sitter_floor(repo, work / f"cache-{repo.name}", args.repeat, query=False)
            print(f"| {name} | {copied} | {status['files']} | {status['segments']} | {status['symbols']} "
                  f"| {ours:.2f} ({ours_cpu:.2f}) | {ctags:.2f} ({ctags_cpu:.2f}) | {ours / ctags:.2f} "
                  f"| {floor:.2f} ({floor_cpu:.2f}) | {floor / ctags:.2f} | {parse:.2f} ({parse_cpu:.2f}) "
                  f"| {parse / ctags:.2f} |", flush=True)
        if args.edits and "stdlib" in args.trees.split(","):
            lat = edit_latency(work / "stdlib", work, args.edits)
            print(f"\nwatcher, {args.edits} edits on stdlib (debounce {lat['debounce'] * 1000:.0f} ms): "
                  f"save -> dirty report p50 {lat['p50'] * 1000:.1f} ms, p99 {lat['p99'] * 1000:.1f} ms; "
                  f"after the debounce p50 {lat['p50_after_debounce'] * 1000:.1f} ms, "
                  f"p99 {lat['p99_after_debounce'] * 1000:.1f} ms; "
                  f"update_file alone p50 {lat['update_p50'] * 1000:.1f} ms, "
                  f"p99 {lat['update_p99'] * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
