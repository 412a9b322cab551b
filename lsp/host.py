"""AssistantHost: the model and one Assistant per workspace root, behind one worker thread.

Every call into the Assistants (start-up, completion, explain, buffer overlays) runs on one
worker thread, one at a time, so the asyncio loop never blocks on the engine: the loop keeps
reading messages (cancellations, newer keystrokes) while the worker generates. Cancellation is a
token the Assistant checks between tokens; a job whose token is already cancelled never starts.
Open buffers are handed over lazily: the latest text of each changed buffer is applied right
before the next job, so a typing storm costs one overlay update per completion, not per key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from codepager.errors import CodepagerError
from codepager.indexer.errors import IndexerError
from codepager.lsp.cancellation import CancelToken
from codepager.lsp.settings import ASSISTANT_FIELDS, MODEL_FIELDS, ServerSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
Report = Callable[[str, int | None], None]  # (message, percentage); called from the worker thread

STARTING, LOADING, INDEXING, READY, FAILED, STOPPED = (
    "starting", "loading model", "indexing", "ready", "failed", "stopped")


class NotReady(CodepagerError):
    """The model or the index is not loaded yet (or failed to load)."""


class JobCancelled(Exception):
    """The job's token was cancelled before it started."""


@dataclass(slots=True)
class JobInfo:
    kind: str
    uri: str | None
    started: float
    steps: int = 0  # engine outputs seen (about one per generated token)
    seconds: float = 0.0
    outcome: str = "running"  # running / done / cancelled / failed
    cancel_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "uri": self.uri, "steps": self.steps, "seconds": round(self.seconds, 4),
                "outcome": self.outcome, "cancel_reason": self.cancel_reason}


class AssistantHost:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="codepager-engine")
        self.state = STARTING
        self.message = "waiting for initialized"
        self.percentage: int | None = None
        self.settings: ServerSettings | None = None
        self.engine: Any = None
        self.model: dict[str, Any] = {}
        self.assistants: dict[Path, Any] = {}
        self.index_status: dict[str, dict[str, Any]] = {}
        self.engine_stats: dict[str, Any] = {}
        self.current: JobInfo | None = None
        self.last: JobInfo | None = None
        self.jobs_run = 0
        self.cpu_threads: int | None = None  # torch's CPU threads, once the worker has set them
        self._default_cpu_threads: int | None = None
        self._buffers_lock = threading.Lock()
        self._buffers: dict[Path, str] = {}  # open buffers by absolute path (the latest text)
        self._dirty: dict[Path, bool] = {}  # path -> still open (False: closed, drop its overlay)
        self._generation = 0

    @property
    def ready(self) -> bool:
        return self.state == READY

    async def wait_ready(self, timeout: float, token: CancelToken | None = None) -> bool:
        """Wait (without blocking the loop) while the model loads and the index builds; False at once
        once start-up failed, after `timeout`, or when the token is cancelled (a newer keystroke)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.state in (STARTING, LOADING, INDEXING) and loop.time() < deadline:
            if token is not None and token.cancelled:
                return False
            await asyncio.sleep(0.05)
        return self.ready

    # -- start-up -------------------------------------------------------------------------------

    async def start(self, settings: ServerSettings, roots: list[Path], report: Report) -> None:
        """(Re)load what changed: the model when model/device changed, assistants for new roots."""
        self._generation += 1
        generation = self._generation
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._start, settings, list(roots), report, generation)

    def _start(self, settings: ServerSettings, roots: list[Path], report: Report, generation: int) -> None:
        if generation != self._generation or self.state == STOPPED:
            return  # a newer start superseded this one
        previous, self.settings = self.settings, settings
        changed = previous.changed_fields(settings) if previous else set(ASSISTANT_FIELDS)
        try:
            if previous is None or "cpu_threads" in changed:
                self._apply_cpu_threads(settings)
            if self.engine is None or changed & set(MODEL_FIELDS):
                self._close_assistants(list(self.assistants))
                self._set_state(LOADING, f"loading model {self._model_dir(settings)}", None, report)
                self._load_engine(settings)
            elif changed & set(ASSISTANT_FIELDS):
                self._close_assistants(list(self.assistants))
            self._close_assistants([r for r in self.assistants if r not in roots])
            for number, root in enumerate(r for r in roots if r not in self.assistants):
                self._open_root(settings, root, number, len(roots), report)
        except (CodepagerError, IndexerError, OSError) as err:
            self._set_state(FAILED, str(err), None, report)
            raise
        self._refresh_engine_stats()
        files = sum(s.get("files", 0) for s in self.index_status.values())
        self._set_state(READY, f"ready: {files} files in {len(self.assistants)} root(s)", 100, report)

    def _apply_cpu_threads(self, settings: ServerSettings) -> None:
        """torch's threads are process-wide, so the host sets them (not EngineConfig.cpu_threads):
        a change applies without reloading the model; null brings back torch's own count."""
        import torch

        if self._default_cpu_threads is None:
            self._default_cpu_threads = torch.get_num_threads()
        torch.set_num_threads(settings.cpu_threads or self._default_cpu_threads)
        self.cpu_threads = torch.get_num_threads()

    def _model_dir(self, settings: ServerSettings) -> Path:
        from codepager.assistant_config import AssistantConfig

        model = Path(settings.model_path).expanduser() if settings.model_path else None
        return AssistantConfig(model_dir=model).resolved_model_dir

    def _assistant_config(self, settings: ServerSettings) -> Any:
        from codepager.assistant_config import AssistantConfig
        from codepager.context.config import ContextConfig
        from codepager.engine.config import EngineConfig

        return AssistantConfig(model_dir=self._model_dir(settings), max_tokens=settings.max_tokens,
                               watch=True,
                               engine=EngineConfig(device=settings.resolved_device()),
                               context=ContextConfig(repo_budget_tokens=settings.context_budget))

    def _load_engine(self, settings: ServerSettings) -> None:
        from codepager.engine.llm_engine import LLMEngine

        config = self._assistant_config(settings)
        self.engine = None
        self.engine = LLMEngine.from_model_dir(config.resolved_model_dir, config.engine)
        loaded = self.engine.loaded
        self.model = {"path": str(loaded.path), "fingerprint": loaded.fingerprint,
                      "device": config.engine.device}

    def _open_root(self, settings: ServerSettings, root: Path, number: int, total: int,
                   report: Report) -> None:
        from codepager.assistant import Assistant
        from codepager.indexer.index import RepositoryIndex

        config = self._assistant_config(settings)
        label = root.name or str(root)
        self._set_state(INDEXING, f"indexing {label}", 0, report)
        index = RepositoryIndex.open(root, config.index)
        step = {"last": -1}

        def progress(done: int, todo: int, path: str) -> None:
            percent = int(100 * (number + done / max(todo, 1)) / max(total, 1))
            if percent != step["last"]:  # at most 100 reports per root
                step["last"] = percent
                self._set_state(INDEXING, f"indexing {label}: {done}/{todo} {path}", percent, report)

        try:
            index.build(progress)
            assistant = Assistant(index, self.engine, config)
        except BaseException:
            index.close()
            raise
        assistant.start_watching()
        self.assistants[root] = assistant
        self.index_status[str(root)] = index.status()
        with self._buffers_lock:  # buffers opened before this root was ready
            for path in self._buffers:
                if path.is_relative_to(root):
                    self._dirty[path] = True

    def _close_assistants(self, roots: list[Path]) -> None:
        for root in roots:
            assistant = self.assistants.pop(root)
            self.index_status.pop(str(root), None)
            try:
                assistant.close()
            except Exception:  # closing must not stop the others from closing
                log.exception("closing the assistant of %s failed", root)
        if roots:
            with self._buffers_lock:
                self._dirty.update({p: True for p in self._buffers})

    def _set_state(self, state: str, message: str, percentage: int | None, report: Report) -> None:
        self.state, self.message, self.percentage = state, message, percentage
        log.info("%s%s", message, f" ({percentage}%)" if percentage is not None else "")
        report(message, percentage)

    # -- buffers ---------------------------------------------------------------------------------

    def set_buffer(self, path: Path, text: str | None) -> None:
        """An open buffer's latest text (None: closed). Applied before the next job."""
        with self._buffers_lock:
            if text is None:
                self._buffers.pop(path, None)
            else:
                self._buffers[path] = text
            self._dirty[path] = text is not None

    def _flush_buffers(self) -> None:
        with self._buffers_lock:
            dirty, self._dirty = self._dirty, {}
            texts = {path: self._buffers.get(path) for path in dirty}
        for path, is_open in dirty.items():
            assistant = self.assistant_for(path, required=False)
            if assistant is None:
                continue
            try:
                if is_open and texts[path] is not None:
                    assistant.set_buffer(path, texts[path])
                else:
                    assistant.close_buffer(path)
            except (CodepagerError, IndexerError, OSError) as err:
                log.warning("buffer %s not applied to the index: %s", path, err)

    def assistant_for(self, path: Path, *, required: bool = True) -> Any:
        best = None
        for root in self.assistants:
            if path.is_relative_to(root) and (best is None or len(root.parts) > len(best.parts)):
                best = root
        if best is None:
            if required:
                raise NotReady(f"codepager is not ready for {path} ({self.state}: {self.message})")
            return None
        return self.assistants[best]

    # -- jobs ------------------------------------------------------------------------------------

    async def run(self, kind: str, uri: str | None, token: CancelToken,
                  job: Callable[[Callable[[], bool]], T]) -> T:
        """Run job(should_cancel) on the worker; raise NotReady before the model and index are."""
        if not self.ready:
            raise NotReady(f"codepager is {self.state}: {self.message}")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, kind, uri, token, job)

    def _run(self, kind: str, uri: str | None, token: CancelToken,
             job: Callable[[Callable[[], bool]], T]) -> T:
        if token.cancelled:
            raise JobCancelled(token.reason)
        if not self.ready:
            raise NotReady(f"codepager is {self.state}: {self.message}")
        info = JobInfo(kind, uri, time.perf_counter())
        self.current = info

        def should_cancel() -> bool:
            info.steps += 1
            return token.cancelled

        try:
            self._flush_buffers()
            result = job(should_cancel)
            info.outcome = "cancelled" if token.cancelled else "done"
            return result
        except BaseException:
            info.outcome = "failed"
            raise
        finally:
            info.cancel_reason = token.reason
            info.seconds = time.perf_counter() - info.started
            self.current, self.last = None, info
            self.jobs_run += 1
            self._refresh_engine_stats()

    def _refresh_engine_stats(self) -> None:
        if self.engine is None:
            return
        stats = dataclasses.asdict(self.engine.stats())
        stats["unfinished_requests"] = self.engine.has_unfinished()
        self.engine_stats = stats

    # -- status / end ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Never waits for the worker: everything here was recorded by it."""
        current = self.current
        return {
            "state": self.state, "message": self.message, "percentage": self.percentage,
            "model": dict(self.model), "device": self.model.get("device"),
            "roots": [str(r) for r in self.assistants], "index": list(self.index_status.values()),
            "engine": dict(self.engine_stats), "jobs_run": self.jobs_run, "cpu_threads": self.cpu_threads,
            "current_job": current.to_dict() if current else None,
            "last_job": self.last.to_dict() if self.last else None,
        }

    def stop(self) -> None:
        """Close everything (after the job in progress; its token should be cancelled first)."""
        self._generation += 1
        self._executor.submit(self._stop).result(timeout=60)
        self._executor.shutdown(wait=False)

    def _stop(self) -> None:
        self._close_assistants(list(self.assistants))
        self.engine = None
        self.state, self.message = STOPPED, "stopped"
