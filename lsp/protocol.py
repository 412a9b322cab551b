"""Protocol fixes over stock pygls: every bad message gets an answer, and cancellation reaches work
that pygls cannot cancel itself.

- `$/cancelRequest` also cancels our own token for that id (a running `workspace/executeCommand`
  is a separate task stock pygls never cancels; engine work runs in a thread).
- A request whose params do not fit the method's types gets an InvalidParams error response
  (stock pygls logs it and never answers, leaving the client waiting).
- A body that is not JSON, or JSON that is not a JSON-RPC message, gets a ParseError /
  InvalidRequest response with id null, as JSON-RPC 2.0 asks.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest, JsonRpcParseError
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger(__name__)


class Unanswerable:
    """Stands in for a message already answered with an error; handle_message drops it."""

    jsonrpc = "dropped"


class CodepagerProtocol(LanguageServerProtocol):
    def _handle_cancel_notification(self, msg_id: Any) -> None:
        cancel_id = getattr(self._server, "cancel_request", None)
        if cancel_id is not None:
            cancel_id(msg_id)
        super()._handle_cancel_notification(msg_id)

    def structure_message(self, data: dict[str, Any]) -> Any:
        if "jsonrpc" not in data:
            return super().structure_message(data)
        try:
            return super().structure_message(data)
        except (JsonRpcInvalidParams, Exception) as err:
            method = data.get("method")
            if "id" in data and method is not None:
                detail = err.__cause__ or err
                message = f"invalid params for {method}: {_first_line(detail)}"
                self._send_response(data["id"], error=JsonRpcInvalidParams(message).to_response_error())
                return Unanswerable()
            raise

    def handle_message(self, message: Any) -> None:
        if isinstance(message, Unanswerable):
            return
        if isinstance(message, dict) or not hasattr(message, "jsonrpc"):
            # valid JSON, but not a JSON-RPC message (e.g. an array, a number, no "jsonrpc")
            msg_id = message.get("id") if isinstance(message, dict) else None
            self._send_error(msg_id, JsonRpcInvalidRequest("not a JSON-RPC 2.0 message"))
            return
        super().handle_message(message)

    def report_unparsable(self, error: Exception) -> None:
        if isinstance(error, json.JSONDecodeError):
            self._send_error(None, JsonRpcParseError(f"message body is not JSON: {error}"))

    def _send_error(self, msg_id: Any, error: JsonRpcException) -> None:
        # written by hand: the typed response drops a null id, which JSON-RPC requires here
        body = {"code": error.code, "message": error.message}
        self._send_data({"jsonrpc": "2.0", "id": msg_id if isinstance(msg_id, (int, str)) else None,
                         "error": body})


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
