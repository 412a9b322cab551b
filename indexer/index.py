"""RepositoryIndex: the facade over file set, parsing, store, symbols, graph and overlays."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codepager.indexer.config import IndexConfig
from codepager.indexer.errors import IndexerError
from codepager.indexer.files import FileEntry, is_ignored, list_files
from codepager.indexer.graph import ReferenceGraph
from codepager.indexer.overlay import Overlays
from codepager.indexer.parallel import ParseJob, ParseResult, run_job, run_jobs
from codepager.indexer.records import IndexSummary, Segment, SkippedFile
from codepager.indexer.status import index_status
from codepager.indexer.store import FileRecord, IndexStore
from codepager.indexer.symbols import SymbolTable

Progress = Callable[[int, int, str], None]  # (files done, files to process, path)


@dataclass(frozen=True, slots=True)
class DirtyReport:
    """What one file change did to its segments; the engine drops KV of changed_content_hashes."""

    path: str
    removed_segment_ids: tuple[str, ...]  # old versions gone (deleted, or content changed)
    added_segment_ids: tuple[str, ...]  # new versions (new, or content changed)
    changed_content_hashes: tuple[str, ...]  # hashes the file no longer has

    @property
    def is_empty(self) -> bool:
        return not (self.removed_segment_ids or self.added_segment_ids or self.changed_content_hashes)


def diff_segments(path: str, old: dict[str, str], new: dict[str, str]) -> DirtyReport:
    """old/new: segment id -> content hash."""
    removed = tuple(i for i, h in old.items() if new.get(i) != h)
    added = tuple(i for i, h in new.items() if old.get(i) != h)
    gone = tuple(sorted(set(old.values()) - set(new.values())))
    return DirtyReport(path, removed, added, gone)


class RepositoryIndex:
    def __init__(self, root: Path, config: IndexConfig, store: IndexStore):
        self.root = root
        self.config = config
        self.store = store
        self.overlays = Overlays()
        self.symbols = SymbolTable(store, self.overlays)
        self.graph = ReferenceGraph(store, self.symbols)
        self.lock = threading.RLock()

    @classmethod
    def open(cls, root: Path | str, config: IndexConfig | None = None) -> RepositoryIndex:
        config = config or IndexConfig()
        root = Path(root).expanduser()
        if not root.is_dir():
            raise IndexerError(f"repository {root} is not a directory")
        root = root.resolve()
        store_dir = config.store_dir(root)
        store = IndexStore(store_dir, map_size=config.map_size, sync=config.sync)
        if store.get_meta("root") != str(root):
            store.set_meta("root", str(root))
        return cls(root, config, store)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> RepositoryIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- whole-repository indexing ----------------------------------------------------------------

    def build(self, progress: Progress | None = None) -> IndexSummary:
        started = time.perf_counter()
        summary = IndexSummary()
        self._sync(summary, progress)
        summary.seconds = time.perf_counter() - started
        return summary

    def rescan(self) -> list[DirtyReport]:
        """Bring the whole index up to date with the disk (e.g. after a branch switch)."""
        return self._sync(IndexSummary(), None)

    def _sync(self, summary: IndexSummary, progress: Progress | None) -> list[DirtyReport]:
        with self.lock:
            entries, skipped = list_files(self.root, max_file_bytes=self.config.max_file_bytes)
            skipped = [s for s in skipped if s.reason != "vanished"]  # e.g. deleted but still tracked
            stored = {r.path: r for r in self.store.files()}
            listed = {e.path for e in entries} | {s.path for s in skipped}
            reports = [self.remove_file(p) for p in sorted(set(stored) - listed)]
            summary.removed = len(reports)
            for skip in skipped:
                old = stored.get(skip.path)
                self._record_skip(old, skip, 0, 0)
                if old and old.segment_ids:
                    reports.append(diff_segments(skip.path, dict(zip(old.segment_ids, old.segment_hashes,
                                                                     strict=True)), {}))
            jobs = []
            for entry in entries:
                old = stored.get(entry.path)
                if old and not old.skip_reason and (old.size, old.mtime_ns) == (entry.size, entry.mtime_ns):
                    summary.unchanged += 1
                else:
                    jobs.append(self._job(entry, old))
            parse_skipped = 0
            for done, result in enumerate(run_jobs(jobs, workers=self.config.worker_count(),
                                                   min_files_for_pool=self.config.min_files_for_pool), 1):
                report = self._apply(result, stored.get(result.path))
                if result.parsed is None:
                    summary.unchanged += 1
                elif isinstance(result.parsed, SkippedFile):
                    skipped.append(result.parsed)
                    parse_skipped += 1
                else:
                    summary.indexed += 1
                if report is not None and not report.is_empty:
                    reports.append(report)
                if progress is not None:
                    progress(done, len(jobs), result.path)
            if reports or jobs:
                self.store.env.sync()
            summary.files = len(entries) - parse_skipped
            summary.skipped = skipped
            summary.segments = self.store.entries("segments")
            return reports

    def _job(self, entry: FileEntry, old: FileRecord | None) -> ParseJob:
        known = old.content_hash if old and not old.skip_reason else ""
        return ParseJob(entry.path, str(entry.abs_path), known, self.config.max_file_bytes)

    def _apply(self, result: ParseResult, old: FileRecord | None) -> DirtyReport | None:
        """Write one parse result (one transaction); returns what changed."""
        old_segments = dict(zip(old.segment_ids, old.segment_hashes, strict=True)) if old else {}
        if result.parsed is None:
            self.store.touch_file(result.path, mtime_ns=result.mtime_ns, size=result.size)
            return None
        if isinstance(result.parsed, SkippedFile):
            if result.parsed.reason == "vanished":
                return self.remove_file(result.path)
            self._record_skip(old, result.parsed, result.size, result.mtime_ns)
            return diff_segments(result.path, old_segments, {})
        record = self.store.put_encoded(result.parsed)
        self._graph_changed(record.path)
        return diff_segments(record.path, old_segments, dict(zip(record.segment_ids, record.segment_hashes,
                                                                 strict=True)))

    def _record_skip(self, old: FileRecord | None, skip: SkippedFile, size: int, mtime_ns: int) -> None:
        if old and (old.skip_reason, old.skip_detail, old.size, old.mtime_ns) == (skip.reason, skip.detail,
                                                                                    size, mtime_ns):
            return
        self.store.put_file(FileRecord(skip.path, "", size, mtime_ns, skip_reason=skip.reason,
                                       skip_detail=skip.detail))
        if old and old.segment_ids:
            self._graph_changed(skip.path)

    def _graph_changed(self, path: str) -> None:
        if self.graph.is_loaded:
            self.graph.update_file(path)

    # -- one file ---------------------------------------------------------------------------------

    def relative(self, path: str | Path) -> str:
        p = Path(path)
        if p.is_absolute():
            try:
                p = p.resolve().relative_to(self.root) if p.exists() else p.relative_to(self.root)
            except ValueError as err:
                raise IndexerError(f"{path} is outside the repository {self.root}") from err
        return p.as_posix().strip("/")

    def update_file(self, path: str | Path) -> DirtyReport:
        """Re-index one file from disk (removing it if it is gone or ignored)."""
        rel = self.relative(path)
        with self.lock:
            abs_path = self.root / rel
            if not abs_path.is_file() or is_ignored(self.root, rel):
                return self.remove_file(rel)
            old = self.store.file(rel)
            stat = abs_path.stat()
            entry = FileEntry(rel, abs_path, stat.st_size, stat.st_mtime_ns)
            report = self._apply(run_job(self._job(entry, old)), old)
            return report or DirtyReport(rel, (), (), ())

    def remove_file(self, path: str | Path) -> DirtyReport:
        rel = self.relative(path)
        with self.lock:
            old = self.store.remove_file(rel)
            if old is None:
                return DirtyReport(rel, (), (), ())
            self._graph_changed(rel)
            return diff_segments(rel, dict(zip(old.segment_ids, old.segment_hashes, strict=True)), {})

    # -- reads (an overlay wins over the disk) -------------------------------------------------------

    def file(self, path: str) -> FileRecord | None:
        return self.store.file(self.relative(path))

    def segments_of(self, path: str) -> list[Segment]:
        rel = self.relative(path)
        overlay = self.overlays.get(rel)
        return list(overlay.segments) if overlay is not None else self.store.segments_of(rel)

    def segment(self, segment_id: str) -> Segment | None:
        path = segment_id.split("::", 1)[0]
        overlay = self.overlays.get(path)
        if overlay is not None:
            return next((s for s in overlay.segments if s.id == segment_id), None)
        return self.store.segment(segment_id)

    def set_overlay(self, path: str, text: str) -> DirtyReport:
        rel = self.relative(path)
        before = self._served_hashes(rel)
        parsed = self.overlays.set(rel, text)
        return diff_segments(rel, before, {s.id: s.content_hash for s in parsed.segments})

    def clear_overlay(self, path: str) -> DirtyReport:
        rel = self.relative(path)
        before = self._served_hashes(rel)
        self.overlays.clear(rel)
        return diff_segments(rel, before, self._served_hashes(rel))

    def _served_hashes(self, rel: str) -> dict[str, str]:
        overlay = self.overlays.get(rel)
        if overlay is not None:
            return {s.id: s.content_hash for s in overlay.segments}
        record = self.store.file(rel)
        return dict(zip(record.segment_ids, record.segment_hashes, strict=True)) if record else {}

    def status(self) -> dict[str, Any]:
        return index_status(self)

