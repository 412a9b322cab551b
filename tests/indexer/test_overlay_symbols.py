"""An unsaved buffer's definitions and references are what the symbol table answers for its file."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_index import make_repo, repo_config

from codepager.indexer.index import RepositoryIndex

MONEY = "shop/money.py"
CHECKOUT = "shop/checkout.py"


@pytest.fixture
def index(tmp_path: Path) -> RepositoryIndex:
    make_repo(tmp_path / "repo")
    with RepositoryIndex.open(tmp_path / "repo", repo_config(tmp_path)) as ix:
        ix.build()
        yield ix


def buffer_with_new_function(index: RepositoryIndex) -> str:
    text = (index.root / MONEY).read_text()
    return text + (
        "\n\ndef round_price(amount: Money) -> Money:\n"
        "    return parse_price(format_price(amount))\n")


def test_buffer_only_definition_resolves_and_goes_away_with_the_buffer(index: RepositoryIndex) -> None:
    assert index.symbols.resolve(CHECKOUT, "round_price") == []
    index.set_overlay(MONEY, buffer_with_new_function(index))
    found = index.symbols.resolve(CHECKOUT, "round_price")
    assert [(d.path, d.kind) for d in found] == [(MONEY, "function")]
    assert index.segment(found[0].segment_id) is not None  # the buffer's segment, not a stale id
    assert "round_price" in {d.name for d in index.symbols.definitions_in(MONEY)}
    index.clear_overlay(MONEY)
    assert index.symbols.resolve(CHECKOUT, "round_price") == []
    assert "round_price" not in {d.name for d in index.symbols.definitions_in(MONEY)}
    assert index.store.definitions("round_price") == []  # never persisted


def test_buffer_references_replace_the_files_stored_ones(index: RepositoryIndex) -> None:
    def callers_in(path: str, name: str) -> list[int]:
        return sorted(r.line for r in index.symbols.references_to(name) if r.path == path)

    stored = callers_in(CHECKOUT, "format_price")
    assert len(stored) == 2
    text = (index.root / CHECKOUT).read_text()
    edited = text.replace('receipt.append(f"total: {format_price(total)}")', 'receipt.append(str(total))')
    index.set_overlay(CHECKOUT, "\n\n" + edited)  # two lines pushed down, one call gone
    assert callers_in(CHECKOUT, "format_price") == [stored[0] + 2]
    assert "format_price" not in {r.name for r in index.symbols.references_in(CHECKOUT) if r.line > stored[1]}
    assert callers_in(MONEY, "Money") == sorted(r.line for r in index.store.references_to("Money")
                                                if r.path == MONEY)  # other files untouched
    index.clear_overlay(CHECKOUT)
    assert callers_in(CHECKOUT, "format_price") == stored


def test_a_moved_definition_in_a_buffer_hides_the_stored_one(index: RepositoryIndex) -> None:
    text = (index.root / MONEY).read_text()
    index.set_overlay(MONEY, text.replace("def format_price(", "def render_price("))
    assert index.symbols.resolve(CHECKOUT, "format_price") == []
    assert [d.path for d in index.symbols.resolve(CHECKOUT, "render_price")] == [MONEY]


def test_buffer_imports_rank_resolution(index: RepositoryIndex) -> None:
    (index.root / "shop/other.py").write_text("def format_price(amount):\n    return str(amount)\n")
    index.update_file("shop/other.py")
    stored_first = index.symbols.resolve(CHECKOUT, "format_price")[0].path
    assert stored_first == MONEY  # checkout imports it from shop.money
    text = (index.root / CHECKOUT).read_text()
    index.set_overlay(CHECKOUT, text.replace("from shop.money import format_price",
                                             "from shop.other import format_price"))
    assert index.symbols.resolve(CHECKOUT, "format_price")[0].path == "shop/other.py"
