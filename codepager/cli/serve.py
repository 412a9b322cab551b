"""`codepager serve`: the LSP server on stdio (`--tcp PORT` optional); `--http`: the
OpenAI-compatible HTTP endpoint."""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the language server (stdio by default)",
                                   description=__doc__)
    _lsp_main().add_arguments(parser)
    parser.add_argument("--http", action="store_true", help="serve the OpenAI-compatible HTTP API instead")
    from codepager.http.cli import add_http_arguments

    add_http_arguments(parser)  # --port, --api-key-env, --model, limits (--http / --host are shared)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.http:
        from codepager.http.cli import run_http

        return int(run_http(args) or 0)
    return _lsp_main().serve(args)


def _lsp_main() -> ModuleType:
    # `serve` is the one subcommand that belongs to the lsp layer: the CLI hands over to it by module
    # name at run time, as main.py loads every subcommand, so no core module imports lsp (or pygls).
    return importlib.import_module("codepager.lsp.__main__")
