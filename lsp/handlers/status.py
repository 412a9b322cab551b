"""The `codepager/status` request: index progress, model, device, engine and cache numbers, request
counters — for status bars. Answers at once (never waits for the engine)."""

from __future__ import annotations

from typing import Any

from codepager import __version__
from codepager.lsp.server import CodepagerServer

STATUS_METHOD = "codepager/status"


def register(server: CodepagerServer) -> None:
    @server.feature(STATUS_METHOD)
    def status(ls: CodepagerServer, params: Any) -> dict[str, Any]:
        return {
            "server": {"name": "codepager", "version": __version__, "position_encoding": ls.encoding},
            **ls.host.status(),
            "workspace_roots": [str(root) for root in ls.roots.roots],
            "open_documents": len(ls.documents),
            "settings": ls.settings.to_dict(),
            "requests": {**ls.requests.counters.to_dict(), "in_flight": ls.requests.in_flight()},
        }
