"""`codepager complete FILE:LINE:COL`: a repository-aware completion at one position (LINE and COL
1-based), or many with --requests R.jsonl (one JSON result per line, one process)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from codepager.context.reuse import REUSE_MODES
from codepager.errors import CodepagerError, ConfigError, RequestError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("complete", help="complete code at FILE:LINE:COL with repository context")
    parser.add_argument("position", nargs="?", help="FILE:LINE:COL, 1-based (optional with --requests)")
    parser.add_argument("--repo", type=Path, help="repository root (default: the git root above FILE)")
    parser.add_argument("--model", type=Path, help="Hugging Face model directory (default: embedded model)")
    parser.add_argument("--max-tokens", type=int, default=64, help="new tokens at most (default 64)")
    parser.add_argument("--no-repo-context", action="store_true", help="in-file context only")
    parser.add_argument("--exact", action="store_true", help="full prefill of the assembled prompt")
    parser.add_argument("--reuse", choices=REUSE_MODES, default="prefix",
                        help="how repository context KV is reused (default: prefix, exact)")
    parser.add_argument("--text-file", type=Path, help="buffer contents (an unsaved editor buffer)")
    parser.add_argument("--requests", type=Path, help='JSONL of {"file", "line", "col", "text"?} requests')
    parser.add_argument("--cache-dir", type=Path, help="index / KV store location (default: user cache dir)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--remote", metavar="URL",
                        help="OpenAI-compatible server (http://gpu:8000/v1) instead of the local engine; "
                             "--model then gives the served model's tokenizer files")
    parser.add_argument("--remote-model", help="model name on the --remote server")
    parser.add_argument("--json", action="store_true", help="print a JSON object, not the text")
    parser.set_defaults(run=run)


def parse_position(position: str, *, need_column: bool = True) -> tuple[Path, int, int | None]:
    """'path:LINE:COL' (COL optional unless need_column) -> (path, 0-based line, 0-based col)."""
    parts = position.rsplit(":", 2)
    numbers: list[str] = []
    while len(parts) > 1 and parts[-1].isdigit() and len(numbers) < 2:
        numbers.insert(0, parts.pop())
    if len(parts) > 1:  # a path containing ':' — glue it back
        parts = [":".join(parts)]
    if not numbers or (need_column and len(numbers) < 2):
        shape = "FILE:LINE:COL" if need_column else "FILE:LINE[:COL]"
        raise ConfigError(f"position {position!r} is not {shape} (1-based numbers)")
    line = int(numbers[0])
    col = int(numbers[1]) if len(numbers) == 2 else None
    if line < 1 or (col is not None and col < 1):
        raise ConfigError(f"position {position!r}: LINE and COL start at 1")
    return Path(parts[0]), line - 1, None if col is None else col - 1


def find_repo(file: Path) -> Path:
    for folder in [file.parent, *file.parent.parents]:
        if (folder / ".git").exists():
            return folder
    return Path.cwd()


def run(args: argparse.Namespace) -> int:
    if args.position is None and args.requests is None:
        raise ConfigError("give FILE:LINE:COL or --requests R.jsonl")
    if args.max_tokens < 1:
        raise ConfigError(f"--max-tokens must be at least 1, got {args.max_tokens}")
    requests = _read_requests(args.requests) if args.requests else [_single_request(args)]
    first_file = Path(requests[0]["file"]).expanduser().resolve()
    repo = (args.repo or find_repo(first_file)).expanduser().resolve()
    assistant = open_assistant(args, repo)
    failures = 0
    try:
        for request in requests:
            try:
                result = _complete_one(assistant, args, request)
            except CodepagerError as err:
                if args.requests is None:
                    raise
                failures += 1
                print(json.dumps({"error": str(err), "request": request}), flush=True)
                continue
            if args.json or args.requests is not None:
                print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
            else:
                print(result.completion, flush=True)
    finally:
        assistant.close()
    return 2 if failures else 0


def open_assistant(args: argparse.Namespace, repo: Path) -> Any:
    import torch

    from codepager.assistant import Assistant
    from codepager.assistant_config import DEFAULT_MODEL_DIR, AssistantConfig
    from codepager.engine.config import EngineConfig
    from codepager.indexer.config import IndexConfig

    if args.model is None and not DEFAULT_MODEL_DIR.is_dir():
        raise ConfigError("no --model given and no embedded default model is installed")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    remote = None
    if args.remote is not None:
        from codepager.remote_backend import RemoteBackendConfig

        if not args.remote_model:
            raise ConfigError("--remote needs --remote-model")
        remote = RemoteBackendConfig(base_url=args.remote, model=args.remote_model)
    config = AssistantConfig(model_dir=args.model, reuse=args.reuse, max_tokens=args.max_tokens,
                             engine=EngineConfig(device=device), index=IndexConfig(cache_dir=args.cache_dir),
                             remote=remote)
    return Assistant.open(repo, config)


def _single_request(args: argparse.Namespace) -> dict[str, Any]:
    file, line, col = parse_position(args.position)
    request: dict[str, Any] = {"file": str(file), "line": line + 1, "col": (col or 0) + 1}
    if args.text_file is not None:
        try:
            request["text"] = args.text_file.read_text(encoding="utf-8", errors="replace")
        except OSError as err:
            raise ConfigError(f"cannot read --text-file {args.text_file}: {err.strerror}") from err
    return request


def _read_requests(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ConfigError(f"cannot read --requests {path}: {err.strerror}") from err
    requests = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            request = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}:{number}: not JSON ({err.msg})") from err
        if not isinstance(request, dict) or not {"file", "line", "col"} <= set(request):
            raise ConfigError(f'{path}:{number}: a request needs "file", "line" and "col"')
        requests.append(request)
    if not requests:
        raise ConfigError(f"{path} holds no requests")
    return requests


def _complete_one(assistant: Any, args: argparse.Namespace, request: dict[str, Any]) -> Any:
    line, col = request["line"], request["col"]
    if not (isinstance(line, int) and isinstance(col, int)) or line < 1 or col < 1:
        raise RequestError(f"line and col must be positive integers, got {line!r}:{col!r}")
    file = Path(request["file"]).expanduser()
    file = file if file.is_absolute() else Path.cwd() / file
    text = request.get("text")
    return assistant.complete(file.resolve(), text, line - 1, col - 1, max_tokens=args.max_tokens,
                              exact=args.exact, repo_context=not args.no_repo_context)

