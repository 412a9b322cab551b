"""Bad input of every kind gets an error response naming the problem, and the server keeps serving."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcMethodNotFound

from .lsp_session import open_document, start_client, status, wait_ready
from .test_profiles import explain_params, inline_params

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(module_repo, server_env, tiny_model):
    options = {"modelPath": str(tiny_model), "maxTokens": 4, "debounceMs": 0}
    client, _result = await start_client(module_repo, server_env, "visual-studio-code", options)
    await wait_ready(client)
    client.repo = module_repo
    yield client
    await client.shutdown_session()
    await client.stop()


async def still_serving(client) -> None:
    assert (await status(client))["state"] == "ready"


async def test_wrong_params_shape(client):
    # params that do not fit a standard method's types: see test_malformed_json_rpc_gets_error_responses
    with pytest.raises(JsonRpcInvalidParams, match="codepager.explain takes one argument"):
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="codepager.explain", arguments=[{"textDocument": {"uri": 3}}]))
    with pytest.raises(JsonRpcInvalidParams, match="range.start.line must be a non-negative integer"):
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="codepager.explain", arguments=[{"textDocument": {"uri": "file:///x"},
                                                     "range": {"start": {"line": "one", "character": 0}}}]))
    with pytest.raises(JsonRpcMethodNotFound):
        await client.protocol.send_request_async("codepager/noSuchThing", {})
    await still_serving(client)


async def test_unknown_document(client):
    uri = (client.repo / "shop" / "never_opened.py").as_uri()
    with pytest.raises(JsonRpcInvalidParams, match="is not open"):
        await client.text_document_inline_completion_async(inline_params(uri, 0, 0))
    await still_serving(client)


async def test_positions_out_of_range(client):
    uri = open_document(client, client.repo / "shop" / "cart.py")
    with pytest.raises(JsonRpcInvalidParams, match="line 10000 is out of range"):
        await client.text_document_inline_completion_async(inline_params(uri, 10_000, 0))
    with pytest.raises(JsonRpcInvalidParams, match="past the end of the line"):
        await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=0, character=500)))
    with pytest.raises(JsonRpcInvalidParams, match="out of range"):
        await client.workspace_execute_command_async(explain_params(uri, 99_999, 0))
    await still_serving(client)


async def test_utf16_astral_edges(client):
    text = "x = '😀😀'\n𝔘 = 1\n"
    uri = open_document(client, client.repo / "shop" / "emoji.py", text)
    # after both emoji: 5 + 2 * 2 UTF-16 units; between the surrogates of the first one: refused
    result = await client.text_document_inline_completion_async(inline_params(uri, 0, 9))
    assert result is not None
    with pytest.raises(JsonRpcInvalidParams, match="inside the character"):
        await client.text_document_inline_completion_async(inline_params(uri, 0, 6))
    # an incremental change that replaces the second emoji keeps the buffer consistent
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=0, character=7),
                              end=types.Position(line=0, character=9)),
            text="ab")]))
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=0, character=9)))
    assert result.items[0].text_edit.new_text.startswith("ab")  # "ab" is the word before the cursor
    await still_serving(client)


async def test_five_megabyte_document(client):
    line = "value_{n} = compute(value_{m}) + 1  # filler to make a large buffer\n"
    text = "".join(line.format(n=i, m=i - 1) for i in range(5 * 1024 * 1024 // len(line) + 1))
    assert len(text) > 5_000_000
    uri = open_document(client, client.repo / "shop" / "huge.py", text)
    last = text.count("\n")
    try:
        request = client.text_document_inline_completion_async(inline_params(uri, last, 0))
        result = await asyncio.wait_for(request, timeout=300)
        assert isinstance(result.items, (list, tuple))
    except JsonRpcException as err:  # refusing is fine too, as long as it is an answer
        assert str(err)
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    await still_serving(client)


async def test_non_file_uri_and_paths_outside_the_workspace(client, tmp_path):
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri="untitled:Untitled-1", language_id="python", version=1, text="import os\n")))
    with pytest.raises(JsonRpcInvalidParams, match="not a file: URI"):
        await client.text_document_inline_completion_async(inline_params("untitled:Untitled-1", 0, 3))
    outside = tmp_path / "secret.py"
    outside.write_text("SECRET = 1\n")
    with pytest.raises(JsonRpcInvalidParams, match="outside the workspace"):
        await client.workspace_execute_command_async(explain_params(outside.as_uri(), 0, 0))
    escape = client.repo / "shop" / "escape.py"
    escape.symlink_to(outside)  # a link inside the root to a file outside it
    try:
        with pytest.raises(JsonRpcInvalidParams, match="outside the workspace"):
            await client.workspace_execute_command_async(explain_params(escape.as_uri(), 0, 0))
    finally:
        escape.unlink()
    dotdot = client.repo.as_uri() + "/../" + tmp_path.name + "/secret.py"
    with pytest.raises(JsonRpcInvalidParams, match="outside the workspace"):
        await client.workspace_execute_command_async(explain_params(dotdot, 0, 0))
    await still_serving(client)
