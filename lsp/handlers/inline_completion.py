"""textDocument/inlineCompletion (LSP 3.18): ghost text at the cursor."""

from __future__ import annotations

from lsprotocol import types

from codepager.lsp.completion_flow import complete_at
from codepager.lsp.server import CodepagerServer


def register(server: CodepagerServer) -> None:
    # pygls advertises inlineCompletionProvider only when registered with InlineCompletionOptions
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: CodepagerServer,
                                params: types.InlineCompletionParams) -> types.InlineCompletionList:
        done = await complete_at(ls, params.text_document.uri, params.position, "inline")
        if done is None:
            return types.InlineCompletionList(items=[])
        here = types.Range(start=params.position, end=params.position)
        item = types.InlineCompletionItem(insert_text=done.completion, range=here)
        return types.InlineCompletionList(items=[item])
