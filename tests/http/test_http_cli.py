"""The endpoint as a command: `codepager serve --http` (and `python -m codepager.http`, the same)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import openai
import pytest

COMMAND = [sys.executable, "-m", "codepager.cli.main", "serve", "--http"]
MODULE = [sys.executable, "-m", "codepager.http"]


@pytest.mark.parametrize("command", [COMMAND, MODULE], ids=["serve", "module"])
def test_non_loopback_bind_without_a_key_is_refused_before_loading(tiny_model_dir, command) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CODEPAGER_API_KEY"}
    done = subprocess.run([*command, "--model", str(tiny_model_dir), "--host", "0.0.0.0", "--port", "0"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "API key" in lines[0] and "$CODEPAGER_API_KEY" in lines[0]


def test_missing_model_directory_is_one_line(tmp_path) -> None:
    done = subprocess.run([*COMMAND, "--model", str(tmp_path / "nope"), "--port", "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "model directory not found" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_serves_completions_with_a_key_from_the_environment(tiny_model_dir) -> None:
    env = {**os.environ, "MY_KEY": "abc123"}
    process = subprocess.Popen(
        [*COMMAND, "--model", str(tiny_model_dir), "--port", "0", "--api-key-env", "MY_KEY",
         "--device", "cpu"],
        stderr=subprocess.PIPE, text=True, env=env)
    try:
        banner = process.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/v1 serving 'tiny' \(API key required\)", banner)
        assert match, banner
        url = match.group(1)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="abc123", max_retries=0)
        result = client.completions.create(model="tiny", prompt="def f(x):", max_tokens=4, temperature=0)
        assert result.choices[0].finish_reason in ("stop", "length")
        assert httpx.get(f"{url}/v1/models").status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130  # Ctrl-C: uvicorn shuts down, then re-raises the signal
