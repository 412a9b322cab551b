"""Typing storm against the language server on loopback TCP.

Every `--interval-ms` (30) for `--seconds` (60): one `didChange` (the next character of a scripted
edit) and one `textDocument/inlineCompletion` at the new cursor; the previous request, if still
unanswered, is cancelled first (`$/cancelRequest`), as editors do. Reports p50/p99 latency of the
answered requests, errors, cancelled count, and the server's resident memory at the start and the
end of the storm; then one request after typing stops (the latency a user waits for ghost text).

    python benchmarks/lsp_typing.py [--model DIR] [--repo DIR] [--seconds 60] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "repo_sample"
TYPED = ("    def discounted_total(self, percent: int) -> Money:\n"
         "        \"\"\"The total after a discount of `percent` per cent.\"\"\"\n"
         "        total = self.total_price()\n"
         "        return Money(total.cents * (100 - percent) // 100, total.currency)\n\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


async def connect(port: int, attempts: int = 200) -> LanguageClient:
    for _ in range(attempts):
        client = LanguageClient("lsp-typing-bench", "1")
        try:
            await client.start_tcp("127.0.0.1", port)
            return client
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit(f"the server never listened on port {port}")


async def status(client: LanguageClient) -> dict[str, Any]:
    return plain(await client.protocol.send_request_async("codepager/status", {}))


def plain(value: Any) -> Any:
    """pygls hands untyped results back as namedtuples: turn them into dicts again."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


async def storm(args: argparse.Namespace, repo: Path, server: subprocess.Popen, port: int) -> dict[str, Any]:
    client = await connect(port)
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(), workspace_folders=[types.WorkspaceFolder(uri=repo.as_uri(),
                                                                                          name=repo.name)],
        initialization_options={"codepager": {"modelPath": str(args.model) if args.model else None,
                                              "maxTokens": args.max_tokens, "debounceMs": args.debounce_ms}}))
    client.initialized(types.InitializedParams())
    started = time.perf_counter()
    while (await status(client))["state"] not in ("ready", "failed"):
        await asyncio.sleep(0.1)
    ready_s = time.perf_counter() - started
    path = repo / "shop" / "cart.py"
    text = path.read_text()
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="python", version=1, text=text)))
    line, character, version = text.count("\n"), 0, 1

    latencies: list[float] = []
    counts = {"sent": 0, "answered": 0, "empty": 0, "cancelled": 0, "errors": 0}
    error_messages: list[str] = []
    in_flight: dict[int, tuple[asyncio.Future, float]] = {}

    async def track(msg_id: int, request: Any, sent: float) -> None:
        try:
            result = await request
            counts["answered" if result.items else "empty"] += 1
            if result.items:
                latencies.append((time.perf_counter() - sent) * 1000)
        except JsonRpcRequestCancelled:
            counts["cancelled"] += 1
        except JsonRpcException as err:
            counts["errors"] += 1
            error_messages.append(str(err))
        finally:
            in_flight.pop(msg_id, None)

    memory_start = rss_mb(server.pid)
    memory_peak = memory_start
    tasks = []
    deadline = time.perf_counter() + args.seconds
    next_tick = time.perf_counter()
    step = 0
    while time.perf_counter() < deadline:
        for msg_id in list(in_flight):  # stale: the user typed on
            client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
        ch = TYPED[step % len(TYPED)]
        step += 1
        version += 1
        here = types.Position(line=line, character=character)
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=here, end=here), text=ch)]))
        line, character = (line + 1, 0) if ch == "\n" else (line, character + 1)
        msg_id = step
        sent = time.perf_counter()
        request = asyncio.ensure_future(client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=character),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Automatic)),
            msg_id=msg_id))
        in_flight[msg_id] = (request, sent)
        counts["sent"] += 1
        tasks.append(asyncio.ensure_future(track(msg_id, request, sent)))
        if step % 100 == 0:
            memory_peak = max(memory_peak, rss_mb(server.pid))
        next_tick += args.interval_ms / 1000
        await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
    await asyncio.gather(*tasks)
    memory_end = rss_mb(server.pid)
    engine_before = (await status(client))["engine"]
    load_before = os.getloadavg()[0]
    sent = time.perf_counter()
    invoked = types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)
    cursor = types.Position(line=line, character=character)
    final = types.InlineCompletionParams(text_document=types.TextDocumentIdentifier(uri=uri), position=cursor,
                                         context=invoked)
    settle = await client.protocol.send_request_async(types.TEXT_DOCUMENT_INLINE_COMPLETION, final)
    settle_ms = (time.perf_counter() - sent) * 1000
    server_status = await status(client)
    engine_after = server_status["engine"]
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {
        "seconds": args.seconds, "interval_ms": args.interval_ms, "max_tokens": args.max_tokens,
        "debounce_ms": args.debounce_ms, "model": server_status["model"].get("path"),
        "ready_s": round(ready_s, 2),
        **counts,
        "latency_ms_answered": {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
                                "mean": round(statistics.fmean(latencies), 2) if latencies else None},
        "after_typing_ms": round(settle_ms, 2), "after_typing_items": len(settle.items),
        # where the wait went: prompt tokens computed vs reused, decode steps, and how busy the CPU was
        "after_typing_job": {
            "seconds": (server_status.get("last_job") or {}).get("seconds"),
            "engine_outputs": (server_status.get("last_job") or {}).get("steps"),
            "tokens_computed": engine_after["tokens_computed"] - engine_before["tokens_computed"],
            "prefix_cache_hit_tokens": (engine_after["prefix_cache_hit_tokens"]
                                        - engine_before["prefix_cache_hit_tokens"]),
            "load_average_1min": round(load_before, 2)},
        "memory_mb": {"start": round(memory_start, 1), "peak": round(memory_peak, 1),
                      "end": round(memory_end, 1)},
        "server_requests": server_status["requests"], "engine_unfinished": server_status["engine"].get(
            "unfinished_requests"),
        "errors_seen": error_messages[:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model directory (default: the embedded default model)")
    parser.add_argument("--repo", type=Path, default=SAMPLE, help="repository to copy and type in")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval-ms", type=float, default=30.0)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--debounce-ms", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lsp-typing-"))
    repo = work / "repo"
    shutil.copytree(args.repo, repo)
    port = free_port()
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")}
    command = [sys.executable, "-m", "codepager.lsp", "--tcp", str(port), "--log-level", "WARNING",
               "--log-file", str(work / "server.log")]
    server = subprocess.Popen(command, env=env)
    try:
        report = asyncio.run(storm(args, repo, server, port))
    finally:
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=None if args.json else 2))
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
