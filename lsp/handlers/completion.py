"""textDocument/completion for clients without inline completion: one item carrying the whole
(multi-line) completion, as a textEdit that replaces the identifier being typed so that the
client's own filtering keeps the item."""

from __future__ import annotations

import re

from lsprotocol import types

from codepager.lsp.completion_flow import complete_at
from codepager.lsp.documents import index_to_column
from codepager.lsp.server import CodepagerServer

WORD_BEFORE = re.compile(r"[A-Za-z0-9_$]*$")
LABEL_CHARS = 80


def register(server: CodepagerServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["."]))
    async def completion(ls: CodepagerServer, params: types.CompletionParams) -> types.CompletionList:
        done = await complete_at(ls, params.text_document.uri, params.position, "completion")
        if done is None:
            return types.CompletionList(is_incomplete=True, items=[])
        word = WORD_BEFORE.search(done.line_text[:done.column]).group()
        start_character = index_to_column(done.line_text, done.column - len(word), ls.encoding)
        new_text = word + done.completion
        first_line = new_text.split("\n", 1)[0].strip() or new_text.strip()
        truncated = "\n" in new_text.rstrip() or len(first_line) > LABEL_CHARS
        label = first_line[:LABEL_CHARS] + ("…" if truncated else "")
        start = types.Position(line=done.line, character=start_character)
        edit_range = types.Range(start=start, end=params.position)
        item = types.CompletionItem(
            label=label or "(codepager)",
            kind=types.CompletionItemKind.Text,
            detail="codepager",
            documentation=_documentation(ls, new_text),
            filter_text=word + first_line[len(word):] if first_line.startswith(word) else new_text,
            sort_text="0",
            insert_text_format=types.InsertTextFormat.PlainText,
            text_edit=types.TextEdit(range=edit_range, new_text=new_text),
            data=done.result.to_dict(),  # the repository context it used, and timings
        )
        return types.CompletionList(is_incomplete=True, items=[item])


def _documentation(ls: CodepagerServer, text: str) -> types.MarkupContent | str:
    """Markdown where the client renders it (Emacs' lsp-mode profile does not), else plain text."""
    completion = ls.client_capabilities.text_document and ls.client_capabilities.text_document.completion
    item = completion.completion_item if completion else None
    formats = (item.documentation_format if item else None) or []
    if types.MarkupKind.Markdown in formats:
        return types.MarkupContent(kind=types.MarkupKind.Markdown, value=f"```\n{text}\n```")
    return text
