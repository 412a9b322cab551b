"""A thread-safe front for servers: one background thread runs engine.step() while requests are
pending; submit / cancel / segment calls come from any thread.

Every engine call happens under one lock, so cancel() returns only once the request's pages are
free (at most one step later) and no token of that request is delivered after it returns.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator

from codepager.engine.config import SamplingParams
from codepager.engine.llm_engine import LLMEngine, Prompt
from codepager.engine.outputs import EngineStats, RequestOutput
from codepager.engine.segments import SegmentHandle
from codepager.errors import CodepagerError


class RequestHandle:
    """Iterate for the request's deltas (the last one has finished=True); cancel() from anywhere."""

    def __init__(self, loop: EngineLoop, request_id: str) -> None:
        self.request_id = request_id
        self._loop = loop
        self._queue: queue.Queue[RequestOutput | BaseException] = queue.Queue()
        self.final: RequestOutput | None = None

    def _put(self, item: RequestOutput | BaseException) -> None:
        self._queue.put(item)

    def __iter__(self) -> Iterator[RequestOutput]:
        while self.final is None:
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            if item.finished:
                self.final = item
            yield item

    def result(self) -> RequestOutput:
        """Wait for the end; the final output (whole completion in token_ids / text)."""
        for _ in self:
            pass
        assert self.final is not None
        return self.final

    def cancel(self) -> None:
        self._loop.cancel(self.request_id)


class EngineLoop:
    def __init__(self, engine: LLMEngine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._handles: dict[str, RequestHandle] = {}
        self._closed = False
        self._callers_waiting = 0  # callers blocked on the lock; the loop yields to them
        self._count_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="codepager-engine", daemon=True)
        self._thread.start()

    def submit(
        self, prompt: Prompt, params: SamplingParams | None = None, request_id: str | None = None,
    ) -> RequestHandle:
        with self._caller():
            if self._closed:
                raise CodepagerError("the engine loop is closed")
            request_id = self.engine.add_request(prompt, params, request_id)
            handle = RequestHandle(self, request_id)
            self._handles[request_id] = handle
            self._work.notify()
        return handle

    def cancel(self, request_id: str) -> None:
        """Stop the request and free its pages before returning; unknown ids are ignored."""
        with self._caller():
            final = self.engine.cancel(request_id)
            handle = self._handles.pop(request_id, None)
            if handle is not None and final is not None:
                handle._put(final)

    def encode_segment(self, token_ids: list[int]) -> SegmentHandle:
        with self._caller():
            return self.engine.encode_segment(token_ids)

    def release_segment(self, handle: SegmentHandle) -> None:
        with self._caller():
            self.engine.release_segment(handle)

    def stats(self) -> EngineStats:
        with self._caller():
            return self.engine.stats()

    def close(self) -> None:
        """Cancel what is pending and stop the thread."""
        with self._caller():
            self._closed = True
            for request_id in list(self._handles):
                final = self.engine.cancel(request_id)
                handle = self._handles.pop(request_id)
                handle._put(final if final is not None else CodepagerError("the engine loop is closed"))
            self._work.notify()
        self._thread.join()

    def __enter__(self) -> EngineLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _caller(self) -> Iterator[None]:
        with self._count_lock:
            self._callers_waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._count_lock:
                self._callers_waiting -= 1
        try:
            yield
        finally:
            self._lock.release()

    def _run(self) -> None:
        while True:
            while self._callers_waiting:  # a plain Lock is not fair: let callers in between steps
                time.sleep(0.0001)
            with self._lock:
                while not self._closed and not self.engine.has_unfinished():
                    self._work.wait()
                if self._closed:
                    return
                try:
                    outputs = self.engine.step()
                except Exception as err:  # a failed step fails every pending request, not the loop
                    self._fail_all(err)
                    continue
                for out in outputs:
                    handle = self._handles.get(out.request_id)
                    if handle is None:
                        continue
                    if out.finished:
                        del self._handles[out.request_id]
                    handle._put(out)

    def _fail_all(self, err: Exception) -> None:
        for request_id, handle in list(self._handles.items()):
            self.engine.cancel(request_id)
            handle._put(err)
        self._handles.clear()
