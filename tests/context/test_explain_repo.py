"""explain over a real index of the sample repository: calls, callers, history, unsaved buffers."""

from __future__ import annotations

import shutil
from pathlib import Path

import git
import pytest

from codepager.context.explain import IndexSymbols, add_history, enclosing_symbol, explain_at
from codepager.indexer.config import IndexConfig
from codepager.indexer.index import RepositoryIndex

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "repo_sample"
MONEY = "shop/money.py"
CART = "shop/cart.py"
CHECKOUT = "shop/checkout.py"


def commit_all(repo: git.Repo, message: str, author: str) -> None:
    actor = git.Actor(author, f"{author.lower()}@example.com")
    repo.git.add(A=True)
    repo.index.commit(message, author=actor, committer=actor)


@pytest.fixture
def index(tmp_path: Path) -> RepositoryIndex:
    root = tmp_path / "repo"
    shutil.copytree(SAMPLE, root)
    repo = git.Repo.init(root, initial_branch="main")
    commit_all(repo, "initial shop", "Ada")
    cart = root / CART
    cart.write_text(cart.read_text().replace('"""The sum of every line\'s subtotal."""',
                                             '"""The sum of every line\'s subtotal, in cents."""'))
    commit_all(repo, "document total_price units", "Bob")
    money = root / MONEY
    money.write_text(money.read_text().replace("raise ValueError", "raise TypeError"))
    commit_all(repo, "currency mismatch is a TypeError", "Cy")
    with RepositoryIndex.open(root, IndexConfig(cache_dir=tmp_path / "cache")) as ix:
        ix.build()
        yield ix


def explain_line(index: RepositoryIndex, path: str, marker: str, text: str | None = None):
    text = text if text is not None else (index.root / path).read_text()
    offset = text.index(marker)
    line = text.count("\n", 0, offset)
    column = offset - (text.rfind("\n", 0, offset) + 1)
    return explain_at(IndexSymbols(index), path, text, line, column)


def test_what_a_function_calls_resolved_to_definitions(index: RepositoryIndex) -> None:
    explanation = explain_line(index, CART, "total_price(self)")
    assert (explanation.definition.path, explanation.definition.line, explanation.end_line) == (CART, 32, 37)
    calls = {c.name: c for c in explanation.calls}
    assert {"Money", "add", "subtotal"} <= set(calls)
    assert calls["Money"].kind == "call" and calls["Money"].definition.path == MONEY
    assert (calls["subtotal"].definition.path, calls["subtotal"].definition.line) == (CART, 16)
    assert "CartLine" not in calls and "add_line" not in calls  # the neighbours' code is not its own
    assert explanation.code.startswith("def total_price(self) -> Money:") and explanation.code.endswith(
        "return total")
    assert "`subtotal` → `shop/cart.py:16`" in explanation.markdown()


def test_callers_are_told_apart_from_other_references(index: RepositoryIndex) -> None:
    explanation = explain_line(index, MONEY, "format_price(amount")
    assert [(c.path, c.line, c.symbol) for c in explanation.callers] == [
        (CHECKOUT, 19, "checkout"), (CHECKOUT, 21, "checkout")]
    money = explain_line(index, MONEY, "Money:\n")
    called = {(r.path, r.line) for r in money.callers}
    referenced = {(r.path, r.line) for r in money.references}
    assert (CART, 34) in called  # Money(0)
    assert (CART, 16) in referenced - called  # `-> Money` is a type use, not a call
    assert money.caller_count < money.reference_count
    markdown = money.markdown()
    assert "**Called from**" in markdown and "**Other references**" in markdown


def test_history_lists_only_commits_that_touched_the_symbol(index: RepositoryIndex) -> None:
    total = add_history(explain_line(index, CART, "total_price(self)"), index.root)
    assert [(c.author, c.subject) for c in total.history] == [("Bob", "document total_price units"),
                                                              ("Ada", "initial shop")]
    add = add_history(explain_line(index, MONEY, "add(self"), index.root)
    assert [c.subject for c in add.history] == ["currency mismatch is a TypeError", "initial shop"]
    assert f"`{add.history[0].short_sha}`" in add.markdown()


def test_untracked_file_and_non_git_directory_say_so(index: RepositoryIndex, tmp_path: Path) -> None:
    (index.root / "shop/fresh.py").write_text("def fresh():\n    return 1\n")
    index.update_file("shop/fresh.py")
    fresh = add_history(explain_line(index, "shop/fresh.py", "fresh"), index.root)
    assert fresh.history == [] and "not committed" in fresh.history_note
    assert "not committed" in fresh.markdown()
    plain = tmp_path / "plain"
    shutil.copytree(SAMPLE, plain)
    with RepositoryIndex.open(plain, IndexConfig(cache_dir=tmp_path / "cache2")) as other:
        other.build()
        explanation = add_history(explain_line(other, MONEY, "format_price(amount"), plain)
    assert "not in a git repository" in explanation.history_note


def test_definition_only_in_an_unsaved_buffer(index: RepositoryIndex) -> None:
    money = (index.root / MONEY).read_text()
    buffer = money + ("\n\ndef half_price(amount: Money) -> Money:\n"
                      "    return Money(amount.cents // 2, amount.currency)\n")
    index.set_overlay(MONEY, buffer)
    checkout = (index.root / CHECKOUT).read_text().replace("format_price(total)", "half_price(total)")
    index.set_overlay(CHECKOUT, checkout)
    explanation = explain_line(index, CHECKOUT, "half_price(total)", checkout)
    assert explanation.definition.path == MONEY and explanation.definition.line == money.count("\n") + 3
    assert explanation.signature == "def half_price(amount: Money) -> Money:"
    assert {c.name for c in explanation.calls} >= {"Money"}
    at_definition = explain_line(index, MONEY, "half_price(amount", buffer)
    assert [(c.path, c.symbol) for c in at_definition.callers] == [(CHECKOUT, "checkout")]
    index.clear_overlay(MONEY)
    assert explain_line(index, CHECKOUT, "half_price(total)", checkout).definition is None


def test_enclosing_symbol_of_segment_ids() -> None:
    assert enclosing_symbol("a/b.py::symbol::Cart.add_line::0") == "Cart.add_line"
    assert enclosing_symbol("src/x.rs::symbol::net::tcp::connect::1") == "net::tcp::connect"
    assert enclosing_symbol("a/b.py::gap::::0") == ""
