"""`codepager serve` on stdio and `python -m codepager.lsp --tcp PORT` on loopback."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pytest_lsp import ClientServerConfig, client_capabilities

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def test_codepager_serve_on_stdio(fresh_repo, server_env, tiny_model):
    command = [sys.executable, "-m", "codepager", "serve", "--stdio", "--model", str(tiny_model)]
    config = ClientServerConfig(server_command=command, server_env=server_env)
    client = await config.start()
    result = await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("neovim"), root_uri=fresh_repo.as_uri()))
    assert result.capabilities.inline_completion_provider is not None
    current = await client.protocol.send_request_async("codepager/status", {})
    assert current.settings.modelPath == str(tiny_model)  # --model became the starting setting
    await client.shutdown_session()
    assert client._server.returncode == 0
    await client.stop()


async def test_tcp_transport(fresh_repo, server_env, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "codepager.lsp", "--tcp", str(port), "--log-file", str(log)]
    server = subprocess.Popen(command, env=server_env, stdout=subprocess.PIPE)
    try:
        client = LanguageClient("tcp-test", "1")
        for _ in range(300):
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        result = await client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=fresh_repo.as_uri()))
        assert "codepager.explain" in result.capabilities.execute_command_provider.commands
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
        assert server.wait(timeout=60) == 0
        assert server.stdout.read() == b""  # the protocol went over TCP; nothing on stdout
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


async def test_no_progress_for_clients_without_work_done_progress(fresh_repo, server_env, tiny_model):
    config = ClientServerConfig(server_command=[sys.executable, "-m", "codepager.lsp"], server_env=server_env)
    client = await config.start()
    await client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=fresh_repo.as_uri(),
        initialization_options={"codepager": {"modelPath": str(tiny_model)}}))
    while (state := (await client.protocol.send_request_async("codepager/status", {})).state) == "indexing" \
            or state in ("starting", "loading model"):
        await asyncio.sleep(0.05)
    assert state == "ready"
    assert client.progress_reports == {}  # indexing ran, silently: the client cannot show progress
    await client.shutdown_session()
    await client.stop()
