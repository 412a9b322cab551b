"""The server under the capability profiles of VS Code, Neovim and Emacs: one real server per
profile (stdio), shared by the tests of this module."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from lsprotocol import types

from .lsp_session import PROFILES, open_document, start_client, status, units, wait_ready, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXPECTED_ENCODING = {"visual-studio-code": "utf-16", "neovim": "utf-8", "emacs": "utf-32"}


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=PROFILES)
async def session(request, module_repo, server_env, tiny_model):
    options = {"modelPath": str(tiny_model), "maxTokens": 6, "debounceMs": 0}
    client, result = await start_client(module_repo, server_env, request.param, options)
    await wait_ready(client)
    yield client, result, request.param, module_repo
    await client.shutdown_session()
    await client.stop()


def inline_params(uri: str, line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked))


def explain_params(uri: str, line: int, character: int) -> types.ExecuteCommandParams:
    here = {"line": line, "character": character}
    return types.ExecuteCommandParams(command="codepager.explain", arguments=[
        {"textDocument": {"uri": uri}, "range": {"start": here, "end": here}}])


def change(uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str):
    return types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=start[0], character=start[1]),
                              end=types.Position(line=end[0], character=end[1])), text=text)])


async def test_capabilities_advertised(session):
    _client, result, profile, _repo = session
    caps = result.capabilities
    assert caps.inline_completion_provider is not None
    assert caps.completion_provider is not None
    assert "codepager.explain" in caps.execute_command_provider.commands
    assert caps.text_document_sync.change == types.TextDocumentSyncKind.Incremental
    assert str(getattr(caps.position_encoding, "value", caps.position_encoding) or "utf-16") == \
        EXPECTED_ENCODING[profile]


async def test_indexing_reported_through_progress(session):
    client, _result, _profile, _repo = session

    def start_up() -> list:
        return [r for r in client.progress_reports.values() if r and getattr(r[0], "title", "") == "codepager"
                and isinstance(r[-1], types.WorkDoneProgressEnd)]

    await wait_until(client, lambda s: start_up())  # "ready" in status can come just before the end report
    indexing = start_up()[0]
    assert isinstance(indexing[0], types.WorkDoneProgressBegin)
    assert indexing[0].title == "codepager"
    assert any(isinstance(r, types.WorkDoneProgressReport) and "indexing" in (r.message or "")
               for r in indexing)
    assert isinstance(indexing[-1], types.WorkDoneProgressEnd) and "ready" in indexing[-1].message


async def test_inline_completion(session):
    client, _result, _profile, repo = session
    uri = open_document(client, repo / "shop" / "cart.py")
    result = await client.text_document_inline_completion_async(inline_params(uri, 16, 8))
    assert len(result.items) == 1
    item = result.items[0]
    assert isinstance(item.insert_text, str) and item.insert_text
    assert item.range.start == item.range.end == types.Position(line=16, character=8)


async def test_completion_item_replaces_the_word_being_typed(session):
    client, _result, profile, repo = session
    path = repo / "shop" / "checkout.py"
    text = path.read_text() + "\n\ndef total_of(cart):\n    tot"
    uri = open_document(client, path, text)
    last = text.count("\n")
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=last, character=7)))
    assert result.is_incomplete
    assert len(result.items) == 1
    item = result.items[0]
    assert item.text_edit.range.start == types.Position(line=last, character=4)
    assert item.text_edit.range.end == types.Position(line=last, character=7)
    assert item.text_edit.new_text.startswith("tot") and len(item.text_edit.new_text) > 3
    assert item.insert_text_format == types.InsertTextFormat.PlainText
    assert item.label


async def test_astral_characters_count_in_the_negotiated_encoding(session):
    client, _result, profile, repo = session
    encoding = EXPECTED_ENCODING[profile]
    prefix = '    label = "😀 ünï"; lab'
    text = f"def show():\n{prefix}\n"
    uri = open_document(client, repo / "shop" / "astral.py", text)
    column = units(prefix, encoding)
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=1, character=column)))
    edit = result.items[0].text_edit
    assert edit.range.start.character == column - 3 and edit.range.end.character == column
    assert edit.new_text.startswith("lab")
    # a column inside the emoji (UTF-16 and UTF-8 only) is refused, the server keeps serving
    if encoding != "utf-32":
        inside = units('    label = "', encoding) + 1
        with pytest.raises(Exception, match="inside the character"):
            await client.text_document_inline_completion_async(inline_params(uri, 1, inside))
        assert (await status(client))["state"] == "ready"


async def test_explain_is_grounded_in_the_repository(session):
    client, _result, _profile, repo = session
    uri = open_document(client, repo / "shop" / "cart.py")
    # line 5: "from shop.money import Money": explain Money
    result = await client.workspace_execute_command_async(explain_params(uri, 4, 24))
    markdown = result["markdown"]
    assert "Money" in markdown
    assert "shop/money.py" in markdown
    assert "reference" in markdown


ZEBRA_FUNCTION = ("\n\ndef zebra_quux_total(zebra_quux_items):\n    zebra_quux_sum = 0\n"
                  "    for zebra_quux in zebra_quux_items:\n"
                  "        zebra_quux_sum += zebra_quux.zebra_quux_weight\n"
                  "    return zebra_quux_sum\n")
ZEBRA_USER = ("def other(zebra_quux_items):\n    zebra_quux_sum = 0\n"
              "    for zebra_quux in zebra_quux_items:\n        zebra_quux_sum += ")


async def context_paths(client, uri: str, text: str) -> list[tuple[str, str]]:
    lines = text.split("\n")
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=len(lines) - 1, character=len(lines[-1]))))
    segments = result.items[0].data["context"]["segments"] if result.items else []
    return [(s["path"], s["source"]) for s in segments]


async def test_unsaved_change_is_the_truth_for_other_files(session):
    client, _result, profile, repo = session
    first = open_document(client, repo / "shop" / "report_a.py", ZEBRA_USER)
    assert ("shop/inventory.py", "similar") not in await context_paths(client, first, ZEBRA_USER)
    # an unsaved edit of inventory.py adds code like what report_b.py is typing: it becomes context
    inventory = repo / "shop" / "inventory.py"
    inventory_uri = open_document(client, inventory)
    last_line = inventory.read_text().count("\n")
    client.text_document_did_change(change(inventory_uri, 2, (last_line, 0), (last_line, 0), ZEBRA_FUNCTION))
    second = open_document(client, repo / "shop" / "report_b.py", ZEBRA_USER)
    assert ("shop/inventory.py", "similar") in await context_paths(client, second, ZEBRA_USER)
    assert "zebra" not in inventory.read_text()  # nothing was written to the user's file
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=inventory_uri)))
    third = open_document(client, repo / "shop" / "report_c.py", ZEBRA_USER)
    assert ("shop/inventory.py", "similar") not in await context_paths(client, third, ZEBRA_USER)


async def test_settings_change_and_invalid_settings(session):
    client, _result, _profile, _repo = session
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"codepager": {"maxTokens": 4, "debounceMs": 5}}))
    current = await wait_until(client, lambda s: s["settings"]["maxTokens"] == 4)
    assert current["settings"]["debounceMs"] == 5
    client.messages.clear()
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"codepager": {"maxTokens": -5, "device": "tpu", "colour": "blue", "debounceMs": 0}}))
    current = await wait_until(client, lambda s: s["settings"]["debounceMs"] == 0)
    assert current["settings"]["maxTokens"] == 4 and current["settings"]["device"] is None
    shown = " | ".join(m.message for m in client.messages)
    assert "maxTokens" in shown and "device" in shown and "colour" in shown
    assert all(m.type == types.MessageType.Warning for m in client.messages)


async def test_status_request(session):
    client, _result, _profile, repo = session
    current = await status(client)
    assert current["state"] == "ready"
    assert current["device"] == "cpu"
    assert current["index"][0]["files"] >= 5
    assert current["model"]["fingerprint"]
    assert current["engine"]["num_pages"] > 0
    assert current["requests"]["answered"] >= 1
    await asyncio.sleep(0)
