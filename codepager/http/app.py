"""The OpenAI-compatible Starlette app over codepager's engine loop.

Routes: POST /v1/completions (JSON or server-sent events), GET /v1/models, GET /health,
GET /metrics. With an API key every route but /health needs `Authorization: Bearer <key>`.
A client that disconnects cancels its generation at once (its KV pages are freed).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from contextlib import aclosing
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from codepager.engine.engine_loop import EngineLoop
from codepager.errors import CodepagerError
from codepager.http import protocol
from codepager.http.config import HttpConfig
from codepager.http.generation import Generation
from codepager.http.metrics import CONTENT_TYPE, HttpMetrics
from codepager.http.middleware import ApiKeyMiddleware, RequestMetricsMiddleware

CLIENT_CLOSED = 499  # nginx's convention: logged, never seen by the client that left


def create_app(loop: EngineLoop, config: HttpConfig, metrics: HttpMetrics | None = None) -> Starlette:
    service = CompletionService(loop, config, metrics or HttpMetrics())
    routes = [
        Route("/v1/completions", service.completions, methods=["POST"]),
        Route("/v1/models", service.models, methods=["GET"]),
        Route("/health", service.health, methods=["GET"]),
        Route("/metrics", service.metrics_text, methods=["GET"]),
    ]
    middleware = [
        Middleware(RequestMetricsMiddleware, metrics=service.metrics, routes={r.path for r in routes}),
        Middleware(ApiKeyMiddleware, api_key=config.api_key, open_paths={"/health"}),
    ]
    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers={HTTPException: _http_error})  # type: ignore[dict-item]
    app.state.service = service
    return app


class CompletionService:
    def __init__(self, loop: EngineLoop, config: HttpConfig, metrics: HttpMetrics) -> None:
        self.loop = loop
        self.config = config
        self.metrics = metrics
        self.vocab_size = loop.engine.tokenizer.vocab_size
        self.max_model_len = loop.engine.max_model_len
        self.created = int(time.time())

    async def completions(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            body = await _read_body(request, self.config.max_request_bytes)
            parsed = protocol.parse_completion_request(body, self.config, self.vocab_size)
            if parsed.model is not None and parsed.model != self.config.model_name:
                raise protocol.BadRequest(f"model {parsed.model!r} does not exist; this server serves "
                                          f"{self.config.model_name!r}", status=404, param="model",
                                          code="model_not_found")
            generation = Generation(self.loop, parsed.prompt, parsed.params)
            try:
                await generation.start()
            except CodepagerError as err:
                raise protocol.BadRequest(str(err), param="prompt") from err
        except protocol.BadRequest as err:
            return _error(err.status, str(err), code=err.code, param=err.param)
        except ClientDisconnect:
            return Response(status_code=CLIENT_CLOSED)
        if parsed.stream:
            return EventStreamResponse(self._events(parsed, generation, started),
                                       on_close=lambda: self._settle(generation))
        try:
            final = await _until_disconnect(request.receive, self._finish(generation, started))
        except Exception as err:  # the engine failed this request: say so, keep serving
            return _error(500, f"generation failed: {err}", code="server_error")
        finally:
            await self._settle(generation)  # also when the client left before _finish began
        if final is None:
            return Response(status_code=CLIENT_CLOSED)
        return JSONResponse(protocol.completion_body(parsed, self.config.model_name, final))

    async def _finish(self, generation: Generation, started: float) -> Any:
        try:
            async for output in generation.deltas():
                self._note_first_token(output, started)
        finally:
            await self._settle(generation)
        return generation.final

    async def _events(self, parsed: protocol.CompletionRequest, generation: Generation,
                      started: float) -> AsyncGenerator[bytes, None]:
        model = self.config.model_name
        try:
            async for output in generation.deltas():
                self._note_first_token(output, started)
                if output.new_text or output.finished:
                    yield protocol.sse_event(protocol.chunk_body(
                        parsed, model, output.new_text, output.finish_reason if output.finished else None))
            if parsed.include_usage and generation.final is not None:
                yield protocol.sse_event(protocol.chunk_body(parsed, model, "", None,
                                                             protocol.usage(generation.final)))
            yield protocol.sse_event("[DONE]")
        except Exception as err:  # headers are sent: report in the stream, as vLLM does
            yield protocol.sse_event(protocol.error_body(f"generation failed: {err}", code="server_error"))
        finally:
            await self._settle(generation)

    async def _settle(self, generation: Generation) -> None:
        """Finished: count it. Not finished (client gone, error): cancel it now. Once per request."""
        if generation.settled:
            return
        generation.settled = True
        if generation.final is not None:
            self.metrics.record_completion(generation.final)
        else:
            await generation.cancel()
            self.metrics.record_cancelled()

    def _note_first_token(self, output: Any, started: float) -> None:
        if output.new_token_ids and len(output.token_ids) == len(output.new_token_ids):
            self.metrics.record_first_token(time.perf_counter() - started)

    async def models(self, request: Request) -> Response:
        card = {"id": self.config.model_name, "object": "model", "created": self.created,
                "owned_by": "codepager", "max_model_len": self.max_model_len}
        return JSONResponse({"object": "list", "data": [card]})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "model": self.config.model_name})

    async def metrics_text(self, request: Request) -> Response:
        stats = await anyio.to_thread.run_sync(self.loop.stats)
        return Response(self.metrics.render(stats), media_type=CONTENT_TYPE)


class EventStreamResponse(StreamingResponse):
    """Server-sent events from an async generator; a client disconnect cancels the generator at
    once (its `finally` runs), whatever ASGI spec version the server speaks."""

    def __init__(self, events: AsyncGenerator[bytes, None],
                 on_close: Callable[[], Awaitable[None]] | None = None) -> None:
        super().__init__(events, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.events = events
        self.on_close = on_close  # runs whatever happened, even if the generator never started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stream() -> None:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            async with aclosing(self.events) as events:
                async for event in events:
                    await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        try:
            with contextlib.suppress(OSError):  # the client left while we were sending
                await _until_disconnect(receive, stream())
        finally:
            if self.on_close is not None:
                with anyio.CancelScope(shield=True):
                    await self.on_close()


async def _until_disconnect(receive: Receive, work: Coroutine[Any, Any, Any]) -> Any:
    """Run `work`; None if the client disconnects first (work is then cancelled). An error of
    `work` is raised as itself, not wrapped in a task group's ExceptionGroup."""
    result: list[Any] = []
    failure: list[Exception] = []
    async with anyio.create_task_group() as group:
        async def run() -> None:
            try:
                result.append(await work)
            except Exception as err:
                failure.append(err)
            finally:
                group.cancel_scope.cancel()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(run)
        group.start_soon(watch)
    work.close()  # never started (the client left at once): no "never awaited" warning
    if failure:
        raise failure[0]
    return result[0] if result else None


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise protocol.BadRequest("invalid Content-Length header")
        if int(declared) > limit:
            raise protocol.BadRequest(f"request body of {declared} bytes is over the limit of {limit}",
                                      status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise protocol.BadRequest(f"request body is over the limit of {limit} bytes", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str, *, code: str = "invalid_request_error", param: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(protocol.error_body(message, code=code, param=param), status_code=status,
                        headers=headers)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    code = "not_found" if exc.status_code == 404 else "invalid_request_error"
    return _error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", code=code,
                  headers=exc.headers)
