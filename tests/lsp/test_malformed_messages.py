"""Raw bytes a well-behaved client (pytest-lsp included) can never send: each gets a JSON-RPC error
response, and the server goes on to answer the next valid request."""

from __future__ import annotations

import json
import os
import subprocess

from .lsp_session import SERVER_COMMAND


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_message(stream) -> dict:
    length = None
    while True:
        header = stream.readline()
        if not header:
            raise EOFError("server closed its output")
        if header.startswith(b"Content-Length:"):
            length = int(header.split(b":")[1])
        elif header in (b"\r\n", b"\n") and length is not None:
            return json.loads(stream.read(length))


def test_malformed_json_rpc_gets_error_responses(module_repo, server_env):
    process = subprocess.Popen(SERVER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=server_env)
    try:
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"processId": os.getpid(), "rootUri": module_repo.as_uri(),
                                 "capabilities": {}}}
        bad = [b"{this is not json", b"[1, 2, 3]", b'{"id": 5, "method": "initialize"}',
               json.dumps({"jsonrpc": "2.0", "id": 6, "method": "textDocument/completion",
                           "params": {"textDocument": 3}}).encode(),
               json.dumps(initialize).encode()]
        for body in bad:
            process.stdin.write(frame(body))
        process.stdin.flush()
        answers = []
        while not any(a.get("id") == 1 and "result" in a for a in answers):
            message = read_message(process.stdout)
            if "method" not in message:  # skip the server's own notifications
                answers.append(message)
        errors = [(a.get("id"), a["error"]["code"]) for a in answers if "error" in a]
        assert (None, -32700) in errors  # parse error
        assert errors.count((None, -32600)) + errors.count((5, -32600)) == 2  # not JSON-RPC messages
        assert (6, -32602) in errors  # invalid params, answered with the request's id
        assert "invalid params for textDocument/completion" in str(answers)
        assert "capabilities" in answers[-1]["result"]
    finally:
        process.kill()
        process.wait()
