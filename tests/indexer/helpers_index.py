"""Shared by the indexing tests: temporary git repositories and a comparable dump of an index."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import git

from codepager.indexer.config import IndexConfig
from codepager.indexer.store import IndexStore

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "repo_sample"


def make_repo(path: Path, files: dict[str, str] | None = None) -> git.Repo:
    """A git repository at `path`: a copy of tests/data/repo_sample (or `files`), committed."""
    if files is None:
        shutil.copytree(SAMPLE, path)
    else:
        for rel, text in files.items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_text(text)
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "test").set_value("user", "email", "test@example.com")
    repo.git.add(A=True)
    repo.git.commit(m="initial")
    return repo


def repo_config(tmp_path: Path, name: str = "cache", **overrides: Any) -> IndexConfig:
    return IndexConfig(cache_dir=tmp_path / name, **overrides)


def dump(store: IndexStore) -> dict[str, Any]:
    """Everything an index holds about the repository's content (stat fields and meta left out)."""
    files = {}
    for record in store.files():
        files[record.path] = (record.content_hash, record.language, record.segment_ids, record.segment_hashes,
                              record.skip_reason, sorted(record.def_names), sorted(record.ref_names),
                              record.import_keys)
    tables = {db: sorted((bytes(k), bytes(v)) for k, v in store.all_entries(db))
              for db in ("segments", "symbols", "references", "outlines", "imports", "importers")}
    return {"files": files, **tables}
