"""`codepager` command line: one module per subcommand, each with add_parser(subparsers) and run(args)."""

from __future__ import annotations

import argparse
import importlib
import sys

from codepager.errors import CodepagerError
from codepager.indexer.errors import IndexerError

# Each name is a module codepager.cli.<name> exposing add_parser(subparsers) -> None and
# run(args) -> int. Listed in help order.
COMMANDS: list[str] = ["index", "status", "generate", "complete", "explain", "serve"]


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codepager", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"codepager.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (CommandError, CodepagerError, IndexerError) as err:
        print(f"codepager {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
