"""`codepager serve --http`: the options of the OpenAI-compatible endpoint and how they run.

`codepager serve` (the LSP command) calls add_http_arguments(parser) and, when args.http,
run_http(args); `python -m codepager.http` is the same endpoint on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from codepager.errors import ConfigError
from codepager.http.config import HttpConfig, is_loopback

DEFAULT_API_KEY_ENV = "CODEPAGER_API_KEY"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "default_model"


def add_http_arguments(parser: argparse.ArgumentParser) -> None:
    """The --http options. --http, --host, --model and --device are added only where the parser
    lacks them (`codepager serve` has --http and --host of its own)."""
    group = parser.add_argument_group("OpenAI-compatible HTTP endpoint (--http)")
    shared = {
        "--http": {"action": "store_true", "help": "serve the OpenAI-compatible /v1/completions over HTTP"},
        "--host": {"default": "127.0.0.1", "help": "bind address (default 127.0.0.1; others need a key)"},
        "--model": {"type": Path, "help": "Hugging Face model directory (default: the embedded model)"},
        "--device": {"default": "auto", "help": "cpu, cuda, cuda:N or auto (default)"},
    }
    for flag, kwargs in shared.items():
        with contextlib.suppress(argparse.ArgumentError):  # the host command defines it already
            group.add_argument(flag, **kwargs)
    group.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000; 0 picks a free one)")
    group.add_argument("--api-key-env", default=DEFAULT_API_KEY_ENV, metavar="NAME",
                       help=f"environment variable holding the API key (default {DEFAULT_API_KEY_ENV})")
    group.add_argument("--served-model-name", help="model id clients send (default: the model folder's name)")
    group.add_argument("--max-tokens-limit", type=int, default=1024,
                       help="largest max_tokens one request may ask for (default 1024)")
    group.add_argument("--max-request-bytes", type=int, default=4 * 1024 * 1024, help="largest request body")
    group.add_argument("--num-pages", type=int, help="KV pages in the pool (default: sized by memory)")


def http_config_from_args(args: argparse.Namespace, model_dir: Path) -> HttpConfig:
    api_key = os.environ.get(args.api_key_env) or None
    if api_key is None and not is_loopback(args.host):
        raise ConfigError(f"--host {args.host} is reachable from other machines: set an API key in "
                          f"${args.api_key_env} (or bind 127.0.0.1)")
    return HttpConfig(host=args.host, port=args.port, api_key=api_key,
                      model_name=args.served_model_name or model_dir.name,
                      max_tokens_limit=args.max_tokens_limit, max_request_bytes=args.max_request_bytes)


def run_http(args: argparse.Namespace) -> int:
    """Load the model, serve until interrupted. Settings are checked before the model loads."""
    model_dir = getattr(args, "model", None) or DEFAULT_MODEL_DIR
    if not Path(model_dir).is_dir():
        raise ConfigError(f"model directory not found: {model_dir}")
    config = http_config_from_args(args, Path(model_dir))

    import torch

    from codepager.engine.config import EngineConfig
    from codepager.engine.engine_loop import EngineLoop
    from codepager.engine.llm_engine import LLMEngine
    from codepager.http.app import create_app
    from codepager.http.server import HttpServer, bind_socket

    device = getattr(args, "device", "auto") or "auto"
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    listener = bind_socket(config.host, config.port)  # before loading the model: a busy port fails fast
    try:
        engine = LLMEngine.from_model_dir(model_dir, EngineConfig(device=device, num_pages=args.num_pages))
    except BaseException:
        listener.close()
        raise
    with EngineLoop(engine) as loop:
        server = HttpServer(create_app(loop, config), config.host, config.port, listener=listener)
        print(f"codepager: OpenAI-compatible endpoint on {server.url}/v1 serving {config.model_name!r} "
              f"({'API key required' if config.api_key else 'no API key'})", file=sys.stderr, flush=True)
        server.run()
    return 0
