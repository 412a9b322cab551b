"""Cancellation really stops the engine's work: `$/cancelRequest`, a newer request for the same
document, a cancelled `codepager.explain` command, and shutdown in the middle of a generation.

The tiny random model writes long, deterministic garbage, so a generation with a large maxTokens
is still running when the client cancels it; `codepager/status` shows the worker's live job."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from .lsp_session import open_document, start_client, status, wait_ready, wait_until
from .test_profiles import explain_params, inline_params

pytestmark = pytest.mark.asyncio(loop_scope="module")

LONG = 2000  # tokens: far more than any test waits for


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(module_repo, server_env, tiny_model):
    options = {"modelPath": str(tiny_model), "maxTokens": LONG, "debounceMs": 0}
    client, _result = await start_client(module_repo, server_env, "visual-studio-code", options)
    await wait_ready(client)
    uri = open_document(client, module_repo / "shop" / "cart.py")
    yield client, uri
    await client.shutdown_session()
    await client.stop()


def set_max_tokens(client, value: int) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"codepager": {"maxTokens": value}}))


async def running(client, kind: str = "inline") -> dict:
    """Wait until the worker is generating (a few tokens in) for a request of this kind."""
    return await wait_until(client, lambda s: (s["current_job"] or {}).get("kind") == kind
                            and s["current_job"]["steps"] >= 3)


async def idle(client) -> dict:
    return await wait_until(client, lambda s: s["current_job"] is None and s["requests"]["in_flight"] == 0)


async def test_cancel_request_stops_the_generation(session):
    client, uri = session
    set_max_tokens(client, LONG)
    await wait_until(client, lambda s: s["settings"]["maxTokens"] == LONG)
    before = await status(client)
    pending = asyncio.ensure_future(client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 16, 8), msg_id="long-1"))
    await running(client)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="long-1"))
    with pytest.raises(JsonRpcRequestCancelled):
        await pending
    after = await idle(client)
    job = after["last_job"]
    assert job["outcome"] == "cancelled" and job["cancel_reason"] == "cancelled by the client"
    assert 3 <= job["steps"] < LONG
    assert after["engine"]["unfinished_requests"] is False  # the engine's request is gone, pages freed
    assert after["requests"]["cancelled"] == before["requests"]["cancelled"] + 1
    # and the server serves the next request
    set_max_tokens(client, 3)
    await wait_until(client, lambda s: s["settings"]["maxTokens"] == 3)
    result = await client.text_document_inline_completion_async(inline_params(uri, 16, 8))
    assert len(result.items) == 1


async def test_newer_request_for_the_document_supersedes_the_older(session):
    client, uri = session
    set_max_tokens(client, LONG)
    await wait_until(client, lambda s: s["settings"]["maxTokens"] == LONG)
    before = await status(client)
    older = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(uri, 16, 8)))
    await running(client)
    set_max_tokens(client, 3)
    await wait_until(client, lambda s: s["settings"]["maxTokens"] == 3)
    newer = await client.text_document_inline_completion_async(inline_params(uri, 16, 9))
    assert len(newer.items) == 1
    assert not (await older).items  # answered empty, not an error: the editor moved on
    after = await idle(client)
    assert after["requests"]["superseded"] == before["requests"]["superseded"] + 1
    assert after["engine"]["unfinished_requests"] is False


async def test_cancelled_explain_never_reaches_the_engine(session):
    client, uri = session
    set_max_tokens(client, LONG)
    await wait_until(client, lambda s: s["settings"]["maxTokens"] == LONG)
    generation = asyncio.ensure_future(client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 16, 8), msg_id="long-2"))
    await running(client)
    jobs_before = (await status(client))["jobs_run"]
    explain = asyncio.ensure_future(client.protocol.send_request_async(
        types.WORKSPACE_EXECUTE_COMMAND, explain_params(uri, 4, 24), msg_id="explain-1"))
    await wait_until(client, lambda s: s["requests"]["in_flight"] == 2)  # queued behind the generation
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="explain-1"))
    with pytest.raises(JsonRpcRequestCancelled):
        await explain
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="long-2"))
    with pytest.raises(JsonRpcRequestCancelled):
        await generation
    after = await idle(client)
    assert after["jobs_run"] == jobs_before + 1  # only the generation ran; the explain was dropped
    assert after["last_job"]["kind"] == "inline"


async def generating_client(module_repo, server_env, tiny_model, editor: str):
    """A fresh server (as `editor` starts it) in the middle of a long inline completion:
    (client, the pending completion)."""
    options = {"modelPath": str(tiny_model), "maxTokens": LONG, "debounceMs": 0}
    client, _result = await start_client(module_repo, server_env, editor, options)
    await wait_ready(client)
    uri = open_document(client, module_repo / "shop" / "money.py")
    pending = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(uri, 12, 4)))
    await running(client)
    return client, pending


async def test_shutdown_in_the_middle_of_a_generation(module_repo, server_env, tiny_model):
    client, pending = await generating_client(module_repo, server_env, tiny_model, "neovim")
    await client.shutdown_async(None)  # returns only once the worker stopped generating and closed
    with contextlib.suppress(JsonRpcRequestCancelled):  # cancelled, or answered empty: both stop it
        assert not (await pending).items
    client.exit(None)
    returncode = await asyncio.wait_for(client._server.wait(), timeout=60)
    await client.stop()
    assert returncode == 0


async def test_exit_without_shutdown_ends_the_process(module_repo, server_env, tiny_model):
    client, pending = await generating_client(module_repo, server_env, tiny_model, "emacs")
    client.exit(None)  # no shutdown first: the process must still end (status 1, as the LSP asks)
    returncode = await asyncio.wait_for(client._server.wait(), timeout=60)
    pending.cancel()
    await client.stop()
    assert returncode == 1
