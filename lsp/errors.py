"""Our failures as JSON-RPC errors: bad input -> InvalidParams, a request that cannot be served ->
RequestFailed (LSP 3.17), each with a one-line message naming the problem."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from codepager.errors import CodepagerError
from codepager.indexer.errors import IndexerError
from codepager.lsp.documents import PositionError, UnknownDocument
from codepager.lsp.roots import OutsideWorkspace


class RequestFailed(JsonRpcException):
    CODE = -32803
    MESSAGE = "Request failed"


class BadArguments(ValueError):
    """Arguments of a command or custom request that do not have the documented shape."""


@contextmanager
def as_lsp_errors() -> Iterator[None]:
    try:
        yield
    except (PositionError, UnknownDocument, OutsideWorkspace, BadArguments) as err:
        raise JsonRpcInvalidParams(str(err)) from err
    except (CodepagerError, IndexerError) as err:
        raise RequestFailed(str(err)) from err
