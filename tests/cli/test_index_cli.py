"""`codepager index` and `codepager status` through the real command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import git
import pytest

from codepager.cli.main import main

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "repo_sample"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    shutil.copytree(SAMPLE, path)
    git_repo = git.Repo.init(path)
    with git_repo.config_writer() as cfg:
        cfg.set_value("user", "name", "test").set_value("user", "email", "test@example.com")
    git_repo.git.add(A=True)
    git_repo.git.commit(m="initial")
    return path


def test_index_then_status(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = str(tmp_path / "cache")
    assert main(["index", str(repo), "--cache-dir", cache]) == 0
    out, err = capsys.readouterr()
    assert "6 files (6 parsed, 0 unchanged, 0 removed)" in out and "files/s" in err
    assert main(["index", str(repo), "--cache-dir", cache, "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "(0 parsed, 6 unchanged, 0 removed)" in out and err == ""

    assert main(["status", str(repo), "--cache-dir", cache, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["files"] == 6 and status["languages"] == {"python": 5, "text": 1}
    assert status["segments"] > 6 and status["symbols"] > 0 and status["references"] > 0
    assert main(["status", str(repo), "--cache-dir", cache]) == 0
    text = capsys.readouterr().out
    assert "files        6 (python 5, text 1)" in text and "last update" in text


def test_bad_repository_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", str(tmp_path / "nope"), "--cache-dir", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a directory" in err


def test_status_of_an_unindexed_repository(repo: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(repo), "--cache-dir", str(tmp_path / "c")]) == 2
    assert "not indexed yet" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_python_dash_m_entry_point(repo: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "codepager", "index", str(repo), "--cache-dir",
                           str(tmp_path / "cache")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "6 parsed" in done.stdout and "[" in done.stderr and "ETA" in done.stderr
