"""One completion on the threaded engine loop, driven from asyncio.

The engine loop delivers deltas into a blocking queue; each wait runs in a worker thread that is
abandoned when the awaiting task is cancelled (client gone). cancel() then frees the request's
pages and wakes that thread with the final output, so no thread stays blocked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.to_thread

from codepager.engine.config import SamplingParams
from codepager.engine.engine_loop import EngineLoop, RequestHandle
from codepager.engine.outputs import RequestOutput


class Generation:
    def __init__(self, loop: EngineLoop, prompt: str | list[int], params: SamplingParams) -> None:
        self.loop = loop
        self.prompt = prompt
        self.params = params
        self.handle: RequestHandle | None = None
        self.final: RequestOutput | None = None
        self.settled = False  # the server has counted or cancelled it

    async def start(self) -> None:
        """Queue the request; raises the engine's RequestError (e.g. prompt longer than the context)."""
        self.handle = await anyio.to_thread.run_sync(self.loop.submit, self.prompt, self.params)

    async def deltas(self) -> AsyncIterator[RequestOutput]:
        """The request's outputs up to and including the finished one."""
        assert self.handle is not None, "start() first"
        outputs = iter(self.handle)
        while self.final is None:
            output = await anyio.to_thread.run_sync(next, outputs, None, abandon_on_cancel=True)
            if output is None:
                return
            if output.finished:
                self.final = output
            yield output

    async def result(self) -> RequestOutput:
        async for _ in self.deltas():
            pass
        assert self.final is not None
        return self.final

    async def cancel(self) -> None:
        """Stop the request (pages freed before this returns); safe when it already finished."""
        if self.handle is None or self.final is not None:
            return
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.handle.cancel)
