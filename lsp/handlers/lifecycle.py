"""initialize / initialized / shutdown / exit and workspace folders: roots, settings, start-up."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lsprotocol import types

from codepager.lsp.cancellation import SHUTDOWN
from codepager.lsp.progress import Progress
from codepager.lsp.roots import root_of_folder_uri
from codepager.lsp.server import CodepagerServer

log = logging.getLogger(__name__)


def register(server: CodepagerServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: CodepagerServer, params: types.InitializeParams) -> None:
        folders = [f.uri for f in params.workspace_folders or []]
        if not folders and params.root_uri:
            folders = [params.root_uri]
        for uri in folders:
            root = root_of_folder_uri(uri)
            if root is None:
                log.warning("ignoring workspace folder %s: not a file: URI", uri)
            else:
                ls.roots.add(root)
        if not folders and params.root_path:
            ls.roots.add(Path(params.root_path))
        ls.update_settings(params.initialization_options)

    @server.feature(types.INITIALIZED)
    def initialized(ls: CodepagerServer, params: types.InitializedParams) -> None:
        ls.start_host()

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def folders_changed(ls: CodepagerServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
        for folder in params.event.removed:
            root = root_of_folder_uri(folder.uri)
            if root is not None:
                ls.roots.remove(root)
        for folder in params.event.added:
            root = root_of_folder_uri(folder.uri)
            if root is not None:
                ls.roots.add(root)
        ls.start_host()

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: CodepagerServer, params: None) -> None:
        ls.shutdown_requested = True
        ls.requests.cancel_all(SHUTDOWN)
        await asyncio.get_running_loop().run_in_executor(None, ls.host.stop)

    @server.feature(types.EXIT)
    def exit_(ls: CodepagerServer, params: None) -> None:
        ls.requests.cancel_all(SHUTDOWN)  # exit without shutdown: stop generating before the process ends


async def start_host(ls: CodepagerServer) -> None:
    progress = Progress(ls, "codepager")
    await progress.begin("starting")
    loop = asyncio.get_running_loop()

    def report(message: str, percentage: int | None) -> None:  # called on the worker thread
        loop.call_soon_threadsafe(progress.report, message, percentage)

    try:
        await ls.host.start(ls.settings, ls.roots.roots, report)
    except Exception as err:
        log.exception("start-up failed")
        progress.end(f"failed: {err}")
        ls.show(f"could not start: {err}", types.MessageType.Error)
        return
    progress.end(ls.host.message)
