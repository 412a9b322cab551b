"""Reading, parsing and encoding files, in-process or across a process pool; the parent writes the results.

A worker sends back the file already in the store's encoding (`EncodedFile`: bytes rows), so the
parent's share of a cold index is unpickling bytes and one LMDB transaction per file.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from codepager.indexer.imports import import_keys
from codepager.indexer.parse import parse_rows
from codepager.indexer.records import SkippedFile
from codepager.indexer.store_codec import EncodedFile, FileRecord, encode_file


@dataclass(frozen=True, slots=True)
class ParseJob:
    path: str  # repository-relative
    abs_path: str
    known_hash: str  # content hash already stored for this path ("" if none): equal -> not parsed
    max_file_bytes: int


@dataclass(frozen=True, slots=True)
class ParseResult:
    path: str
    mtime_ns: int
    size: int
    parsed: EncodedFile | SkippedFile | None  # None: content hash equals job.known_hash
    content_hash: str = ""


def run_job(job: ParseJob) -> ParseResult:
    try:
        stat = os.stat(job.abs_path)
    except FileNotFoundError:
        return ParseResult(job.path, 0, 0, SkippedFile(job.path, "vanished"))
    except OSError as err:
        return ParseResult(job.path, 0, 0, SkippedFile(job.path, "unreadable", str(err)))
    if stat.st_size > job.max_file_bytes:
        return ParseResult(job.path, stat.st_mtime_ns, stat.st_size,
                           SkippedFile(job.path, "too-large", f"{stat.st_size} bytes"))
    try:
        with open(job.abs_path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return ParseResult(job.path, 0, 0, SkippedFile(job.path, "vanished"))
    except OSError as err:
        skip = SkippedFile(job.path, "unreadable", str(err))
        return ParseResult(job.path, stat.st_mtime_ns, stat.st_size, skip)
    content_hash = hashlib.sha256(data).hexdigest()
    if content_hash == job.known_hash:
        return ParseResult(job.path, stat.st_mtime_ns, stat.st_size, None, content_hash)
    try:
        parsed = parse_rows(job.path, data)
    except Exception as err:  # one file the parser cannot handle must not stop the whole index
        parsed = SkippedFile(job.path, "parse-error", f"{type(err).__name__}: {err}"[:300])
    if isinstance(parsed, SkippedFile):
        return ParseResult(job.path, stat.st_mtime_ns, stat.st_size, parsed, content_hash)
    parsed, ref_rows = parsed
    record = FileRecord(parsed.path, parsed.content_hash, stat.st_size, stat.st_mtime_ns, parsed.language)
    encoded = encode_file(record, parsed, import_keys(parsed.path, parsed.language, parsed.imports), ref_rows)
    return ParseResult(job.path, stat.st_mtime_ns, stat.st_size, encoded, content_hash)


def _start_worker() -> None:
    # what a forked worker inherits from the parent is never its garbage: frozen, the collector does
    # not scan it again on every full collection (nor touch its copy-on-write pages)
    gc.freeze()
    gc.enable()


def run_jobs(jobs: list[ParseJob], *, workers: int, min_files_for_pool: int) -> Iterator[ParseResult]:
    """Results in completion order; a pool only when there is enough work to pay for starting it."""
    if workers <= 1 or len(jobs) < min_files_for_pool:
        yield from map(run_job, jobs)
        return
    # fork is fastest to start; with other threads running (watcher, server) a forked child could
    # inherit a held lock, so fall back to forkserver there.
    methods = multiprocessing.get_all_start_methods()
    method = "fork" if "fork" in methods and threading.active_count() == 1 else "spawn"
    if method == "spawn" and "forkserver" in methods:
        method = "forkserver"
    chunksize = max(1, min(16, len(jobs) // (workers * 8)))
    with multiprocessing.get_context(method).Pool(workers, initializer=_start_worker) as pool:
        yield from pool.imap_unordered(run_job, jobs, chunksize=chunksize)
