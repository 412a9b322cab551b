"""Fixtures for the language-server tests: a tiny random model, a copy of the sample repository,
and real servers (`python -m codepager.lsp` over stdio) driven by pytest-lsp clients."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "repo_sample"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    # a tiny random model rather than the embedded default: its long, deterministic outputs are
    # what the cancellation tests need, and it does not change when the default is retrained
    from codepager.model.testing import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("lsp_model") / "tiny", "qwen2", seed=0)


@pytest.fixture(scope="session")
def server_env(tmp_path_factory) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("lsp_cache"))  # the index store goes here
    env["OMP_NUM_THREADS"] = "1"  # a tiny model on a shared 2-core machine
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture()
def fresh_repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(DATA, repo)
    return repo


@pytest.fixture(scope="module")
def module_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("lsp_repo") / "repo"
    shutil.copytree(DATA, repo)
    return repo

