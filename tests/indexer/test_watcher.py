"""IndexWatcher on a temporary git repository: saved edits, new/deleted/renamed files, branch switches."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers_index import dump, make_repo, repo_config

from codepager.indexer.index import DirtyReport, RepositoryIndex
from codepager.indexer.watcher import IndexWatcher

WAIT_S = 20.0  # generous: only bounds a hang, never asserts speed


def wait_for(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, "the watcher did not catch up"
        time.sleep(0.05)


class Reports:
    def __init__(self) -> None:
        self.queue: queue.Queue[list[DirtyReport]] = queue.Queue()

    def __call__(self, reports: list[DirtyReport]) -> None:
        self.queue.put(reports)

    def until(self, path: str) -> DirtyReport:
        """The next report about `path` (earlier batches about other paths are dropped)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            batch = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            for report in batch:
                if report.path == path:
                    return report


def fresh_dump(repo: Path, tmp_path: Path, name: str) -> dict:
    with RepositoryIndex.open(repo, repo_config(tmp_path, name)) as index:
        index.build()
        return dump(index.store)


@pytest.fixture
def setup(tmp_path: Path):
    repo = tmp_path / "repo"
    git_repo = make_repo(repo)
    (repo / ".gitignore").write_text("build/\n")
    git_repo.git.add(A=True)
    git_repo.git.commit(m="ignore build")
    reports = Reports()
    with RepositoryIndex.open(repo, repo_config(tmp_path)) as index:
        index.build()
        with IndexWatcher(index, reports):
            yield repo, git_repo, index, reports


def test_saved_edit_is_reindexed_and_reported(setup, tmp_path: Path) -> None:
    repo, _, index, reports = setup
    path = repo / "shop/money.py"
    path.write_text(path.read_text().replace("def parse_price(", "def parse_price_text(", 1))
    report = reports.until("shop/money.py")
    assert "shop/money.py::symbol::parse_price_text::0" in report.added_segment_ids
    assert "shop/money.py::symbol::parse_price::0" in report.removed_segment_ids
    assert "shop/money.py::symbol::Money::0" not in report.removed_segment_ids
    assert index.symbols.definitions("parse_price_text")
    assert dump(index.store) == fresh_dump(repo, tmp_path, "fresh")


def test_create_delete_rename_and_ignored_files(setup, tmp_path: Path) -> None:
    repo, _, index, reports = setup
    (repo / "shop/tax.py").write_text("def vat(x):\n    return x\n")
    assert "shop/tax.py::symbol::vat::0" in reports.until("shop/tax.py").added_segment_ids
    (repo / "shop/inventory.py").unlink()
    assert reports.until("shop/inventory.py").added_segment_ids == ()
    (repo / "shop/cart.py").rename(repo / "shop/basket.py")
    reports.until("shop/basket.py")
    wait_for(lambda: index.file("shop/cart.py") is None)
    (repo / "build").mkdir()
    (repo / "build/generated.py").write_text("def generated():\n    pass\n")
    (repo / "shop/last.py").write_text("x = 1\n")
    reports.until("shop/last.py")
    assert index.file("build/generated.py") is None
    assert dump(index.store) == fresh_dump(repo, tmp_path, "fresh")


def test_branch_switch_is_picked_up(setup, tmp_path: Path) -> None:
    repo, git_repo, index, reports = setup
    git_repo.git.checkout("-b", "feature")
    (repo / "shop/money.py").write_text("def money():\n    return 1\n")
    (repo / "shop/extra.py").write_text("def extra():\n    return 2\n")
    git_repo.git.add(A=True)
    git_repo.git.commit(m="feature")
    wait_for(lambda: index.file("shop/extra.py") is not None)
    feature = fresh_dump(repo, tmp_path, "fresh_feature")
    wait_for(lambda: dump(index.store) == feature)

    git_repo.git.checkout("main")  # in the temporary repository only
    main = fresh_dump(repo, tmp_path, "fresh_main")
    wait_for(lambda: dump(index.store) == main)
    assert index.file("shop/extra.py") is None and index.symbols.definitions("format_price")
