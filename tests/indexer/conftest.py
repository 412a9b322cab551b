"""Fixtures shared by the indexing tests: the sample repository committed to git, and its built index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_index import make_repo, repo_config

from codepager.indexer.index import RepositoryIndex


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    make_repo(tmp_path / "repo")
    return tmp_path / "repo"


@pytest.fixture
def index(repo: Path, tmp_path: Path) -> Iterator[RepositoryIndex]:
    with RepositoryIndex.open(repo, repo_config(tmp_path)) as ix:
        ix.build()
        yield ix
