"""IndexWatcher: a watchdog observer that keeps a RepositoryIndex current and reports dirty segments.

Events are debounced (a batch is processed once the tree has been quiet for debounce_s, or at the
latest max_batch_delay_s after its first event). Changed files are re-indexed one by one; a change
of `.git/HEAD`, `.git/refs/...` or a directory created/moved/deleted triggers a rescan of the whole
file set instead (cheap: unchanged files are recognised by size+mtime, then by content hash).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from codepager.indexer.index import DirtyReport, RepositoryIndex

Listener = Callable[[list[DirtyReport]], None]
log = logging.getLogger(__name__)


def _is_git_ref_change(rel: str) -> bool:
    return rel in (".git/HEAD", ".git/packed-refs") or rel.startswith(".git/refs/")


class _Collector(FileSystemEventHandler):
    def __init__(self, watcher: IndexWatcher):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type == "modified":
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if raw:
                self.watcher._note(os.fsdecode(raw), event.is_directory and event.event_type != "modified")


class IndexWatcher:
    def __init__(self, index: RepositoryIndex, listener: Listener | None = None):
        self.index = index
        self.listener = listener
        self.debounce_s = index.config.debounce_s
        self.max_batch_delay_s = index.config.max_batch_delay_s
        self._pending: set[str] = set()
        self._rescan = False
        self._first_event = self._last_event = 0.0
        self._cond = threading.Condition()
        self._stopping = False
        self._observer: Observer | None = None
        self._thread: threading.Thread | None = None
        store = index.store.path.resolve()
        self._store_rel = os.path.relpath(store, index.root) if store.is_relative_to(index.root) else None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> IndexWatcher:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="codepager-index-watcher", daemon=True)
        self._thread.start()
        self._observer = Observer()
        self._observer.schedule(_Collector(self), str(self.index.root), recursive=True)
        self._observer.start()
        return self

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> IndexWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- events ----------------------------------------------------------------------------------

    def _note(self, abs_path: str, structural: bool) -> None:
        rel = Path(os.path.relpath(abs_path, self.index.root)).as_posix()
        if rel.startswith("../") or rel == ".":
            return
        if self._store_rel and (rel == self._store_rel or rel.startswith(self._store_rel + "/")):
            return
        rescan = structural
        if rel == ".git" or rel.startswith(".git/"):
            if not _is_git_ref_change(rel):
                return
            rescan = True
        with self._cond:
            now = time.monotonic()
            if not self._pending and not self._rescan:
                self._first_event = now
            self._last_event = now
            if rescan:
                self._rescan = True
            else:
                self._pending.add(rel)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not (self._pending or self._rescan):
                    self._cond.wait()
                if self._stopping:
                    return
                while not self._stopping:
                    now = time.monotonic()
                    due = min(self._last_event + self.debounce_s, self._first_event + self.max_batch_delay_s)
                    if now >= due:
                        break
                    self._cond.wait(due - now)
                paths, rescan = sorted(self._pending), self._rescan
                self._pending, self._rescan = set(), False
            try:
                self._process(paths, rescan)
            except Exception:  # a watcher that dies silently is worse than one that logs and goes on
                log.exception("re-indexing after file changes failed")

    def _process(self, paths: list[str], rescan: bool) -> None:
        if rescan:
            reports = self.index.rescan()
        else:
            reports = [self.index.update_file(p) for p in paths]
        reports = [r for r in reports if not r.is_empty]
        if reports and self.listener is not None:
            self.listener(reports)
