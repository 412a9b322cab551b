"""RepositoryIndex on a temporary git repository: build, status, lookups, overlay, parallel parsing."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest
from helpers_index import dump, repo_config

from codepager.indexer.config import IndexConfig
from codepager.indexer.errors import IndexerError
from codepager.indexer.index import RepositoryIndex

SAMPLE_FILES = ["README.md", "shop/__init__.py", "shop/cart.py", "shop/checkout.py", "shop/inventory.py",
                "shop/money.py"]


def test_build_indexes_every_file_and_reports_status(repo: Path, tmp_path: Path) -> None:
    seen = []
    with RepositoryIndex.open(repo, repo_config(tmp_path)) as index:
        summary = index.build(progress=lambda done, total, path: seen.append((done, total, path)))
        status = index.status()
    assert summary.files == len(SAMPLE_FILES) and summary.indexed == len(SAMPLE_FILES)
    assert sorted(p for _, _, p in seen) == SAMPLE_FILES and seen[-1][:2] == (6, 6)
    assert status["files"] == 6 and status["languages"] == {"python": 5, "text": 1}
    assert status["segments"] >= 6 + 5 and status["symbols"] >= 8 and status["references"] > 10
    assert status["skipped"] == [] and status["store_bytes"] > 0 and status["last_update"] is not None
    assert Path(status["store"]).is_relative_to(tmp_path / "cache")


def test_second_build_reprocesses_nothing(index: RepositoryIndex) -> None:
    before = dump(index.store)
    summary = index.build()
    assert (summary.indexed, summary.unchanged, summary.removed) == (0, 6, 0)
    assert dump(index.store) == before


def test_touched_file_is_rehashed_not_reparsed(index: RepositoryIndex, repo: Path) -> None:
    path = repo / "shop" / "cart.py"
    path.write_text(path.read_text())  # same content, new mtime
    summary = index.build()
    assert (summary.indexed, summary.unchanged) == (0, 6)
    assert index.file("shop/cart.py").mtime_ns == path.stat().st_mtime_ns


def test_indexing_never_writes_into_the_repository(index: RepositoryIndex, repo: Path) -> None:
    import git

    assert not git.Repo(repo).is_dirty(untracked_files=True)
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if ".git" not in p.parts
                  and p.is_file()) == SAMPLE_FILES


def test_default_store_lives_in_the_user_cache(repo: Path) -> None:
    store_dir = IndexConfig().store_dir(repo)
    assert store_dir.is_relative_to(Path(platformdirs.user_cache_dir("codepager")))
    assert not store_dir.is_relative_to(repo)
    assert IndexConfig().store_dir(repo) != IndexConfig().store_dir(repo / "shop")


def test_bad_repository_and_bad_settings_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(IndexerError, match="not a directory"):
        RepositoryIndex.open(tmp_path / "missing", repo_config(tmp_path))
    with pytest.raises(IndexerError, match="unknown index setting"):
        IndexConfig.from_dict({"cache_dri": "x"})
    with pytest.raises(IndexerError, match="map_size"):
        IndexConfig(map_size=0)


def test_lookups_through_the_index(index: RepositoryIndex) -> None:
    segments = index.segments_of("shop/checkout.py")
    assert segments[0].kind == "outline" and segments[0].id == index.store.outline_id("shop/checkout.py")
    assert index.segment(segments[-1].id) == segments[-1]
    source = (index.root / "shop/checkout.py").read_text()
    assert "".join(s.text for s in segments[1:]) == source
    cart = index.symbols.resolve("shop/checkout.py", "Cart")
    assert cart and cart[0].path == "shop/cart.py"
    assert "shop/cart.py" in index.symbols.imports_of("shop/checkout.py")
    assert "shop/checkout.py" in index.symbols.importers_of("shop/cart.py")
    assert {r.path for r in index.symbols.references_to("format_price")} >= {"shop/checkout.py"}
    ranks = index.graph.pagerank({"shop/checkout.py"})
    best = max((p for p in ranks if p != "shop/checkout.py"), key=ranks.get)
    assert best in {"shop/cart.py", "shop/money.py", "shop/inventory.py"}


def test_overlay_wins_over_disk_and_reports_dirty_segments(index: RepositoryIndex, repo: Path) -> None:
    disk = index.segments_of("shop/money.py")
    text = (repo / "shop/money.py").read_text() + "\n\ndef refund(amount):\n    return -amount\n"
    report = index.set_overlay("shop/money.py", text)
    served = index.segments_of("shop/money.py")
    assert any("def refund" in s.text for s in served)
    assert not any("def refund" in s.text for s in index.store.segments_of("shop/money.py"))
    assert "shop/money.py::symbol::refund::0" in report.added_segment_ids
    # the outline changed, and the blank lines now after parse_price belong to it
    assert set(report.removed_segment_ids) == {disk[0].id, "shop/money.py::symbol::parse_price::0"}
    assert len(report.changed_content_hashes) == 2
    assert index.segment("shop/money.py::symbol::refund::0") is not None
    report = index.clear_overlay("shop/money.py")
    assert index.segments_of("shop/money.py") == disk
    assert "shop/money.py::symbol::refund::0" in report.removed_segment_ids


def test_deleted_file_takes_its_symbols_along(index: RepositoryIndex, repo: Path) -> None:
    assert index.symbols.definitions("format_price")
    (repo / "shop/money.py").unlink()
    report = index.update_file("shop/money.py")
    assert index.symbols.definitions("format_price") == []
    assert index.file("shop/money.py") is None and report.removed_segment_ids
    assert index.store.consistency_problems() == []


def test_parallel_build_equals_serial_build(repo: Path, tmp_path: Path) -> None:
    with RepositoryIndex.open(repo, repo_config(tmp_path, "serial", workers=1)) as serial:
        serial.build()
        expected = dump(serial.store)
    with RepositoryIndex.open(repo, repo_config(tmp_path, "pool", workers=2, min_files_for_pool=1)) as pool:
        pool.build()
        assert dump(pool.store) == expected


def test_skipped_files_are_recorded_with_their_reason(repo: Path, tmp_path: Path) -> None:
    (repo / "blob.bin").write_bytes(b"\0\1\2" * 100)
    (repo / "big.py").write_text("x = 1\n" * 1000)
    with RepositoryIndex.open(repo, repo_config(tmp_path, max_file_bytes=4000)) as index:
        summary = index.build()
        status = index.status()
    assert {s.path: s.reason for s in summary.skipped} == {"blob.bin": "binary", "big.py": "too-large"}
    assert status["skipped_by_reason"] == {"binary": 1, "too-large": 1} and status["files"] == 6
