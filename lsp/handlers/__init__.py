"""LSP features, one module per feature; each exposes register(server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codepager.lsp.server import CodepagerServer

FEATURE_MODULES = ("lifecycle", "text_sync", "configuration", "inline_completion", "completion", "explain",
                   "status")


def register_all(server: CodepagerServer) -> None:
    import importlib

    for name in FEATURE_MODULES:
        importlib.import_module(f"codepager.lsp.handlers.{name}").register(server)
