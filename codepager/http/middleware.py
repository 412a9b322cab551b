"""Pure ASGI middleware (no response buffering, so streams stay streams): the API key check and
per-request counting / timing for /metrics."""

from __future__ import annotations

import hmac
import time
from collections.abc import Collection

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codepager.http import protocol
from codepager.http.metrics import HttpMetrics


class ApiKeyMiddleware:
    """With a key, every path except `open_paths` needs `Authorization: Bearer <key>`; the key is
    compared in constant time."""

    def __init__(self, app: ASGIApp, api_key: str | None, open_paths: Collection[str] = ()) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode() if api_key else None
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.expected is None or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
        if hmac.compare_digest(given, self.expected):
            await self.app(scope, receive, send)
            return
        message = "missing API key" if not given else "invalid API key"
        response = JSONResponse(protocol.error_body(f"{message}: send Authorization: Bearer <key>",
                                                    code="authentication_error"),
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


class RequestMetricsMiddleware:
    """Counts every HTTP request by method, route and status and times it to its last byte. Paths
    outside `routes` are counted as "other" (no unbounded label values)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, routes: Collection[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = frozenset(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 499  # the client left before any response started

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception:
            status = 500
            raise
        finally:
            route = scope["path"] if scope["path"] in self.routes else "other"
            self.metrics.record_request(scope["method"], route, status, time.perf_counter() - started)
