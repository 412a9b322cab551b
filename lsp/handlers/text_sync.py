"""didOpen / didChange / didClose: the open buffers, which win over the disk for every context."""

from __future__ import annotations

import logging

from lsprotocol import types

from codepager.lsp.documents import PositionError, UnknownDocument
from codepager.lsp.roots import OutsideWorkspace
from codepager.lsp.server import CodepagerServer

log = logging.getLogger(__name__)


def register(server: CodepagerServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CodepagerServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        ls.documents.open(item.uri, item.text, item.version, item.language_id)
        _hand_to_host(ls, item.uri, item.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CodepagerServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        try:
            document = ls.documents.get(uri)
            for change in params.content_changes:
                if isinstance(change, types.TextDocumentContentChangePartial):
                    start, end = change.range.start, change.range.end
                    document.apply_change((start.line, start.character), (end.line, end.character),
                                          change.text, ls.encoding)
                else:
                    document.apply_change(None, None, change.text, ls.encoding)
        except (UnknownDocument, PositionError) as err:
            # a notification has no response: tell the user, the buffer is out of sync until reopened
            ls.show(f"change to {uri} not applied: {err}")
            return
        document.version = params.text_document.version
        _hand_to_host(ls, uri, document.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CodepagerServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        try:
            ls.documents.close(uri)
        except UnknownDocument as err:
            log.warning("%s", err)
            return
        _hand_to_host(ls, uri, None)


def _hand_to_host(ls: CodepagerServer, uri: str, text: str | None) -> None:
    try:
        located = ls.locate(uri)
    except OutsideWorkspace as err:
        log.info("not indexing the buffer %s", err)  # requests about it are refused
        return
    ls.host.set_buffer(located.path, text)
