"""Starting a real server under a pytest-lsp client and waiting until it is ready."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SERVER_COMMAND = [sys.executable, "-m", "codepager.lsp", "--log-level", "INFO"]
PROFILES = ["visual-studio-code", "neovim", "emacs"]
STATUS = "codepager/status"


async def start_client(repo: Path, env: dict[str, str], profile: str = "visual-studio-code",
                       options: dict[str, Any] | None = None,
                       folders: list[Path] | None = None) -> tuple[LanguageClient, types.InitializeResult]:
    config = ClientServerConfig(server_command=SERVER_COMMAND, server_env=env)
    client = await config.start()
    folders = folders or [repo]
    result = await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities(profile),
        workspace_folders=[types.WorkspaceFolder(uri=f.as_uri(), name=f.name) for f in folders],
        initialization_options={"codepager": options or {}},
    ))
    return client, result


async def status(client: LanguageClient) -> dict[str, Any]:
    return _as_dict(await client.protocol.send_request_async(STATUS, {}))


async def wait_until(client: LanguageClient, predicate, timeout: float = 180.0) -> dict[str, Any]:
    """Poll codepager/status until predicate(status) holds (a synchronisation, not a timing check)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        current = await status(client)
        if predicate(current):
            return current
        if loop.time() > deadline:
            raise AssertionError(f"server never reached the expected state; last status: {current}")
        await asyncio.sleep(0.05)


async def wait_ready(client: LanguageClient) -> dict[str, Any]:
    current = await wait_until(client, lambda s: s["state"] in ("ready", "failed"))
    assert current["state"] == "ready", current["message"]
    return current


def _as_dict(value: Any) -> dict[str, Any]:
    # pygls hands untyped results back as namedtuple-like objects
    if hasattr(value, "_asdict"):
        return {k: _as_dict(v) for k, v in value._asdict().items()}
    if isinstance(value, list):
        return [_as_dict(v) for v in value]
    return value


def open_document(client: LanguageClient, path: Path, text: str | None = None, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="python", version=version,
        text=path.read_text(encoding="utf-8") if text is None else text)))
    return uri


def units(text: str, encoding: str) -> int:
    """Length of text in the negotiated position encoding's code units."""
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-32":
        return len(text)
    return len(text.encode("utf-16-le")) // 2
