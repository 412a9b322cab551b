"""`python -m codepager.http`: the OpenAI-compatible endpoint alone (same as `codepager serve --http`)."""

from __future__ import annotations

import argparse
import sys

from codepager.errors import CodepagerError
from codepager.http.cli import add_http_arguments, run_http


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codepager.http", description=__doc__.splitlines()[0])
    add_http_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_http(args)
    except CodepagerError as err:
        print(f"codepager serve: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
