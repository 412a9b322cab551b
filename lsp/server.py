"""The codepager language server: typed state on a pygls LanguageServer; handlers live in
`codepager.lsp.handlers`, one module per feature, and stay thin over the AssistantHost."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from codepager import __version__
from codepager.lsp.cancellation import RequestRegistry
from codepager.lsp.documents import UTF16, DocumentStore, TextDocument
from codepager.lsp.host import AssistantHost
from codepager.lsp.protocol import CodepagerProtocol
from codepager.lsp.roots import Located, WorkspaceRoots
from codepager.lsp.settings import ServerSettings, apply_options

log = logging.getLogger(__name__)


class CodepagerServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("codepager", __version__, protocol_cls=CodepagerProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.settings = ServerSettings()
        self.documents = DocumentStore()
        self.roots = WorkspaceRoots()
        self.requests = RequestRegistry()
        self.host = AssistantHost()
        self.startup: asyncio.Task[None] | None = None
        self.shutdown_requested = False  # the exit status: 0 only after a shutdown request (LSP)

    # -- state helpers used by the handlers ------------------------------------------------------

    @property
    def encoding(self) -> str:
        encoding = self.workspace.position_encoding or UTF16
        return str(getattr(encoding, "value", encoding))

    def locate(self, uri: str) -> Located:
        """The workspace root and path of a URI; OutsideWorkspace for anything else."""
        return self.roots.locate(uri)

    def document(self, uri: str) -> tuple[TextDocument, Located]:
        located = self.locate(uri)
        return self.documents.get(uri), located

    def cancel_request(self, msg_id: Any) -> None:
        self.requests.cancel_id(msg_id)

    def show(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        log.warning("%s", message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"codepager: {message}"))

    def update_settings(self, options: Any) -> set[str]:
        """Apply client options; report problems to the user; the names of the fields that changed."""
        settings, problems = apply_options(self.settings, options)
        for problem in problems:
            self.show(problem)
        changed = self.settings.changed_fields(settings)
        self.settings = settings
        return changed

    def start_host(self) -> None:
        """(Re)start loading the model and indexing in the background; requests never wait for it."""
        from codepager.lsp.handlers.lifecycle import start_host

        self.startup = asyncio.ensure_future(start_host(self))

    # -- pygls hooks -----------------------------------------------------------------------------

    def report_server_error(self, error: Exception, source: Any) -> None:
        if isinstance(error, json.JSONDecodeError):
            self.protocol.report_unparsable(error)
            return
        super().report_server_error(error, source)


def create_server() -> CodepagerServer:
    from codepager.lsp.handlers import register_all

    server = CodepagerServer()
    register_all(server)
    return server
