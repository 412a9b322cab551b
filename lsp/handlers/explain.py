"""workspace/executeCommand `codepager.explain` [{"textDocument": {"uri"}, "range"}] -> {"markdown",
"explanation"}. With an instruct model the Assistant writes prose; each new piece is reported through
`$/progress` (the tail of the prose so far) while it is generated, and the prose ends the Markdown.

Stock pygls never cancels a running command on `$/cancelRequest`; our protocol cancels the
command's token instead, which the worker checks before (and the Assistant during) the work.
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

from codepager.lsp.cancellation import CLIENT, SUPERSEDED
from codepager.lsp.completion_flow import READY_WAIT_S
from codepager.lsp.documents import TextDocument
from codepager.lsp.errors import BadArguments, as_lsp_errors
from codepager.lsp.host import JobCancelled
from codepager.lsp.progress import Progress
from codepager.lsp.server import CodepagerServer

EXPLAIN_COMMAND = "codepager.explain"
MAX_DISK_BYTES = 8 << 20
STREAMED_CHARS = 200  # the tail of the generated prose shown in each progress report


def register(server: CodepagerServer) -> None:
    @server.command(EXPLAIN_COMMAND)
    async def explain_command(ls: CodepagerServer, *arguments: Any) -> dict[str, Any]:
        with as_lsp_errors():
            uri, line, character = parse_arguments(arguments)
        token = ls.requests.start(ls.protocol.msg_id, uri, kind="explain")
        outcome = "errors"
        progress = Progress(ls, "codepager: explain")
        try:
            with as_lsp_errors():
                located = ls.locate(uri)
                document = ls.documents.get(uri) if uri in ls.documents else _from_disk(uri, located.path)
                text = document.text
                column = document.column_of(line, character, ls.encoding)
            await progress.begin(f"{located.relative}:{line + 1}", cancellable=False)
            await ls.host.wait_ready(READY_WAIT_S, token)
            loop = asyncio.get_running_loop()
            prose: list[str] = []

            def on_text(piece: str) -> None:  # generated prose, streamed through progress (worker thread)
                prose.append(piece)
                loop.call_soon_threadsafe(progress.report, "".join(prose)[-STREAMED_CHARS:])

            def run(should_cancel: Any) -> Any:
                explain = ls.host.assistant_for(located.path).explain
                return explain(located.path, line, column, text=text,
                               **streaming_arguments(explain, should_cancel, on_text))

            with as_lsp_errors():
                try:
                    explanation = await ls.host.run("explain", uri, token, run)
                except JobCancelled:
                    explanation = None
            if explanation is None or token.cancelled:
                outcome = "superseded" if token.reason == SUPERSEDED else "cancelled"
                raise asyncio.CancelledError()
            outcome = "answered"
            return {"markdown": explanation.markdown(), "explanation": explanation.to_dict()}
        except asyncio.CancelledError:
            token.cancel(CLIENT)
            outcome = "cancelled"
            raise
        finally:
            progress.end()
            ls.requests.finish(token, outcome)


def parse_arguments(arguments: tuple[Any, ...]) -> tuple[str, int, int]:
    """-> (uri, line, character) of the range's start; BadArguments naming what is wrong."""
    usage = f'{EXPLAIN_COMMAND} takes one argument {{"textDocument": {{"uri": URI}}, "range": Range}}'
    if len(arguments) != 1 or not isinstance(arguments[0], dict):
        raise BadArguments(f"{usage}; got {len(arguments)} argument(s)")
    argument = arguments[0]
    document = argument.get("textDocument")
    uri = document.get("uri") if isinstance(document, dict) else None
    if not isinstance(uri, str):
        raise BadArguments(f"{usage}; textDocument.uri is missing")
    span = argument.get("range", argument.get("position"))
    start = span.get("start", span) if isinstance(span, dict) else None
    if not isinstance(start, dict):
        raise BadArguments(f"{usage}; range is missing")
    line, character = start.get("line"), start.get("character")
    for name, value in (("line", line), ("character", character)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadArguments(f"{usage}; range.start.{name} must be a non-negative integer, got {value!r}")
    return uri, line, character


def streaming_arguments(explain: Any, should_cancel: Any, on_text: Any) -> dict[str, Any]:
    """should_cancel / on_text for an Assistant.explain that generates prose (an instruct model);
    an index-only explain takes neither and is quick enough not to need them."""
    accepted = inspect.signature(explain).parameters
    offered = {"should_cancel": should_cancel, "on_text": on_text}
    return {name: value for name, value in offered.items() if name in accepted}


def _from_disk(uri: str, path: Path) -> TextDocument:
    if not path.is_file():
        raise BadArguments(f"{uri} is neither open nor a file on disk")
    if path.stat().st_size > MAX_DISK_BYTES:
        raise BadArguments(f"{uri} is larger than {MAX_DISK_BYTES >> 20} MB")
    return TextDocument(uri, path.read_bytes().decode("utf-8", errors="replace"))
