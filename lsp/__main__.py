"""`python -m codepager.lsp [--stdio | --tcp PORT] [--host HOST] [--log-file FILE] [--log-level LEVEL]`:
the language server on stdio (or TCP). Logs go to stderr or the log file, never to stdout."""

from __future__ import annotations

import argparse
import logging
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stdio", action="store_true",
                        help="talk LSP over stdin/stdout (the default; vscode-languageclient passes it)")
    parser.add_argument("--tcp", type=int, metavar="PORT", help="listen on TCP PORT instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="address for --tcp (default 127.0.0.1)")
    parser.add_argument("--log-file", help="write logs here instead of stderr")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def configure_logging(log_file: str | None, level: str) -> None:
    handler: logging.Handler = (logging.FileHandler(log_file) if log_file
                                else logging.StreamHandler(sys.stderr))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pygls").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def serve(args: argparse.Namespace) -> int:
    configure_logging(args.log_file, args.log_level)
    from codepager.lsp.server import create_server

    server = create_server()
    # `codepager serve` shares --model / --device with the HTTP endpoint: starting values here
    if getattr(args, "model", None) or getattr(args, "device", None):
        from codepager.lsp.settings import apply_options

        server.settings, problems = apply_options(server.settings, {
            "modelPath": str(args.model) if getattr(args, "model", None) else None,
            "device": getattr(args, "device", None)})
        for problem in problems:
            logging.getLogger(__name__).warning("%s", problem)
    if args.tcp is not None:
        server.start_tcp(args.host, args.tcp)
    else:
        server.start_io()
    # pygls swallows the SystemExit of `exit`; the LSP asks for 1 when no shutdown came first
    return 0 if server.shutdown_requested else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codepager.lsp", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
