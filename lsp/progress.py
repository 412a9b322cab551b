"""Work-done progress for long server work (indexing, explain), only for clients that support it."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)


def client_supports_progress(server: LanguageServer) -> bool:
    window = server.client_capabilities.window
    return bool(window and window.work_done_progress)


class Progress:
    """begin / report / end on a token the server creates; every call is a no-op without support."""

    def __init__(self, server: LanguageServer, title: str) -> None:
        self.server = server
        self.title = title
        self.token: str | None = None
        self.ended = False

    async def begin(self, message: str | None = None, cancellable: bool = False) -> None:
        if not client_supports_progress(self.server):
            return
        token = f"codepager-{uuid.uuid4().hex[:12]}"
        try:
            await self.server.work_done_progress.create_async(token)
        except Exception as err:  # the client refused the token: carry on without progress
            log.warning("client refused a progress token: %s", err)
            return
        self.token = token
        self.server.work_done_progress.begin(token, types.WorkDoneProgressBegin(
            title=self.title, message=message, percentage=0, cancellable=cancellable))

    def report(self, message: str | None = None, percentage: int | None = None) -> None:
        if self.token is None or self.ended:
            return
        self.server.work_done_progress.report(self.token, types.WorkDoneProgressReport(
            message=message, percentage=percentage))

    def end(self, message: str | None = None) -> None:
        if self.token is None or self.ended:
            return
        self.ended = True
        self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
