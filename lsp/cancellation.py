"""Cancellation of in-flight work: one token per request, checked by the engine between tokens.

A token is cancelled by `$/cancelRequest` (stock pygls only cancels asyncio tasks that have not
finished; `workspace/executeCommand` runs its handler as a separate task it never cancels), by a
newer completion for the same document (supersession), or by shutdown.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

CLIENT = "cancelled by the client"
SUPERSEDED = "superseded by a newer request for the same document"
SHUTDOWN = "server shutting down"


class CancelToken:
    def __init__(self, msg_id: Any = None, uri: str | None = None, kind: str = "request") -> None:
        self.msg_id = msg_id
        self.uri = uri
        self.kind = kind
        self.reason: str | None = None
        self._event = threading.Event()

    def cancel(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def __call__(self) -> bool:  # usable directly as the Assistant's should_cancel
        return self._event.is_set()


@dataclass(slots=True)
class RequestCounters:
    answered: int = 0
    empty: int = 0  # answered without a completion (engine not ready, nothing generated)
    cancelled: int = 0  # by $/cancelRequest or shutdown
    superseded: int = 0
    errors: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"answered": self.answered, "empty": self.empty, "cancelled": self.cancelled,
                "superseded": self.superseded, "errors": self.errors, "by_kind": dict(self.by_kind)}


class RequestRegistry:
    """Tokens of the requests in flight, by JSON-RPC id and by document (for supersession)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[Any, CancelToken] = {}
        # (kind, uri) -> the latest request: an inline completion supersedes only an older inline
        # completion, since VS Code asks for inline and list completions on the same keystroke
        self._latest: dict[tuple[str, str], CancelToken] = {}
        self.counters = RequestCounters()

    def start(self, msg_id: Any, uri: str | None = None, *, supersede: bool = False,
              kind: str = "request") -> CancelToken:
        token = CancelToken(msg_id, uri, kind)
        with self._lock:
            if msg_id is not None:
                self._by_id[msg_id] = token
            if supersede and uri is not None:
                older = self._latest.get((kind, uri))
                if older is not None:
                    older.cancel(SUPERSEDED)
                self._latest[(kind, uri)] = token
            self.counters.by_kind[kind] = self.counters.by_kind.get(kind, 0) + 1
        return token

    def finish(self, token: CancelToken, outcome: str) -> None:
        """outcome: answered / empty / cancelled / superseded / errors."""
        with self._lock:
            if self._by_id.get(token.msg_id) is token:
                del self._by_id[token.msg_id]
            key = (token.kind, token.uri or "")
            if self._latest.get(key) is token:
                del self._latest[key]
            setattr(self.counters, outcome, getattr(self.counters, outcome) + 1)

    def cancel_id(self, msg_id: Any) -> bool:
        with self._lock:
            token = self._by_id.get(msg_id)
        if token is None:
            return False
        token.cancel(CLIENT)
        return True

    def cancel_all(self, reason: str = SHUTDOWN) -> None:
        with self._lock:
            tokens = list(self._by_id.values()) + list(self._latest.values())
        for token in tokens:
            token.cancel(reason)

    def in_flight(self) -> int:
        with self._lock:
            return len(self._by_id)
