"""workspace/didChangeConfiguration: new settings; bad values reported, previous values kept."""

from __future__ import annotations

import logging

from lsprotocol import types

from codepager.lsp.server import CodepagerServer
from codepager.lsp.settings import HOST_FIELDS, SECTION

log = logging.getLogger(__name__)


def register(server: CodepagerServer) -> None:
    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def configuration_changed(ls: CodepagerServer, params: types.DidChangeConfigurationParams) -> None:
        options = params.settings
        if not (isinstance(options, dict) and SECTION in options) and _can_pull(ls):
            # pull model: the notification only says "something changed"
            try:
                pulled = await ls.workspace_configuration_async(types.ConfigurationParams(
                    items=[types.ConfigurationItem(section=SECTION)]))
                options = {SECTION: pulled[0] if pulled else None}
            except Exception as err:
                log.warning("workspace/configuration failed: %s", err)
                return
        changed = ls.update_settings(options)
        log.info("settings now %s (changed: %s)", ls.settings.to_dict(), sorted(changed) or "nothing")
        if changed & set(HOST_FIELDS) and ls.startup is not None:  # else initialized starts it
            ls.start_host()


def _can_pull(ls: CodepagerServer) -> bool:
    workspace = ls.client_capabilities.workspace
    return bool(workspace and workspace.configuration)
