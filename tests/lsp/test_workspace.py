"""Multi-root workspaces (one index per root, folders added at run time) and reloading the model
when its setting changes (a bad model path is reported, and the server recovers)."""

from __future__ import annotations

import shutil

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from .conftest import DATA
from .lsp_session import open_document, start_client, wait_ready, wait_until
from .test_profiles import explain_params, inline_params

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("roots")
    made = []
    for name in ("alpha", "beta", "gamma"):
        shutil.copytree(DATA, base / name)
        made.append(base / name)
    return made


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(roots, server_env, tiny_model):
    options = {"modelPath": str(tiny_model), "maxTokens": 3, "debounceMs": 0}
    client, _result = await start_client(roots[0], server_env, "visual-studio-code", options,
                                         folders=roots[:2])
    await wait_ready(client)
    yield client
    await client.shutdown_session()
    await client.stop()


async def test_one_index_per_root_and_folders_added_later(client, roots):
    current = await wait_ready(client)
    assert sorted(i["root"] for i in current["index"]) == sorted(str(r.resolve()) for r in roots[:2])
    for root in roots[:2]:
        uri = open_document(client, root / "shop" / "cart.py")
        result = await client.workspace_execute_command_async(explain_params(uri, 4, 24))
        assert "shop/money.py" in result["markdown"]
    outside = open_document(client, roots[2] / "shop" / "cart.py")
    with pytest.raises(JsonRpcException, match="outside the workspace"):
        await client.text_document_inline_completion_async(inline_params(outside, 16, 8))
    client.workspace_did_change_workspace_folders(types.DidChangeWorkspaceFoldersParams(
        event=types.WorkspaceFoldersChangeEvent(
            added=[types.WorkspaceFolder(uri=roots[2].as_uri(), name="gamma")],
            removed=[types.WorkspaceFolder(uri=roots[0].as_uri(), name="alpha")])))
    gamma = str(roots[2].resolve())
    current = await wait_until(client, lambda s: s["state"] == "ready" and gamma in s["roots"])
    assert str(roots[0].resolve()) not in current["roots"]
    result = await client.text_document_inline_completion_async(inline_params(outside, 16, 8))
    assert len(result.items) == 1


async def test_explain_reports_progress(client, roots):
    uri = open_document(client, roots[1] / "shop" / "checkout.py")
    before = set(client.progress_reports)
    await client.workspace_execute_command_async(explain_params(uri, 9, 5))
    new = [client.progress_reports[t] for t in set(client.progress_reports) - before]
    explained = [r for r in new if r and getattr(r[0], "title", "") == "codepager: explain"]
    assert explained and isinstance(explained[0][-1], types.WorkDoneProgressEnd)


async def test_cpu_threads_setting_applies_without_a_reload(client, roots):
    first = await wait_until(client, lambda s: s["state"] == "ready" and s["cpu_threads"] is not None)
    default, fingerprint = first["cpu_threads"], first["model"]["fingerprint"]
    wanted = 1 if default != 1 else 2
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"codepager": {"cpuThreads": wanted}}))
    current = await wait_until(client, lambda s: s["state"] == "ready" and s["cpu_threads"] == wanted)
    assert current["model"]["fingerprint"] == fingerprint
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"codepager": {"cpuThreads": None}}))
    await wait_until(client, lambda s: s["state"] == "ready" and s["cpu_threads"] == default)


async def test_model_setting_change_reloads_and_bad_model_is_reported(client, roots, tiny_model, tmp_path):
    client.messages.clear()
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"codepager": {"modelPath": str(tmp_path / "no_model_here")}}))
    current = await wait_until(client, lambda s: s["state"] == "failed")
    assert "no_model_here" in current["message"]
    error = types.MessageType.Error
    await wait_until(client, lambda s: any(m.type == error and "could not start" in m.message
                                           for m in client.messages))
    uri = open_document(client, roots[1] / "shop" / "money.py")
    result = await client.text_document_inline_completion_async(inline_params(uri, 12, 4))
    assert not result.items  # not ready: an empty answer at once, never a wait
    with pytest.raises(JsonRpcException, match="not ready|failed"):
        await client.workspace_execute_command_async(explain_params(uri, 8, 7))
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"codepager": {"modelPath": str(tiny_model)}}))
    await wait_until(client, lambda s: s["state"] == "ready")
    result = await client.text_document_inline_completion_async(inline_params(uri, 12, 4))
    assert len(result.items) == 1
