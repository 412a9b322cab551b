"""One completion request, shared by textDocument/inlineCompletion and textDocument/completion:
validate, supersede older requests for the document, debounce, generate on the worker, and
account for how the request ended."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from codepager.lsp.cancellation import CLIENT, SUPERSEDED
from codepager.lsp.errors import as_lsp_errors
from codepager.lsp.host import JobCancelled, NotReady

# A request made while the model loads / the index builds waits this long for it (asynchronously:
# the loop keeps serving, and a newer keystroke supersedes the waiting request).
READY_WAIT_S = 60.0

if TYPE_CHECKING:
    from codepager.lsp.server import CodepagerServer


@dataclass(slots=True)
class Completed:
    line: int
    column: int  # code points
    line_text: str  # the cursor's line when the request came
    completion: str
    result: Any  # codepager.assistant.CompletionResult


async def complete_at(ls: CodepagerServer, uri: str, position: types.Position, kind: str) -> Completed | None:
    """The completion at `position`, or None when there is none to show (not ready, superseded,
    nothing generated). Bad input raises a JSON-RPC error; a client cancel propagates."""
    token = ls.requests.start(ls.protocol.msg_id, uri, supersede=True, kind=kind)
    outcome = "errors"
    try:
        with as_lsp_errors():
            document, located = ls.document(uri)
            text = document.text
            line_text = document.line(position.line)
            column = document.column_of(position.line, position.character, ls.encoding)
        if not await ls.host.wait_ready(READY_WAIT_S, token):
            outcome = "superseded" if token.reason == SUPERSEDED else "empty"
            return None
        settings = ls.settings
        if settings.debounce_ms:
            await asyncio.sleep(settings.debounce_ms / 1000)
        if token.cancelled:
            outcome = "superseded" if token.reason == SUPERSEDED else "cancelled"
            return None

        def generate(should_cancel: Any) -> Any:
            assistant = ls.host.assistant_for(located.path)
            return assistant.complete(located.path, text, position.line, column,
                                      max_tokens=settings.max_tokens,
                                      repo_context=settings.context_budget > 0, should_cancel=should_cancel)

        with as_lsp_errors():
            try:
                result = await ls.host.run(kind, uri, token, generate)
            except JobCancelled:
                result = None
            except NotReady:
                outcome = "empty"
                return None
        if token.cancelled or result is None:
            outcome = "superseded" if token.reason == SUPERSEDED else "cancelled"
            return None
        if not result.completion:
            outcome = "empty"
            return None
        outcome = "answered"
        return Completed(position.line, column, line_text, result.completion, result)
    except asyncio.CancelledError:
        token.cancel(CLIENT)  # frees the engine at its next token; the worker moves on
        outcome = "cancelled"
        raise
    finally:
        ls.requests.finish(token, outcome)
