from __future__ import annotations

import shutil
from pathlib import Path

import git
import pytest

from codepager.context.assembler import ContextAssembler
from codepager.context.candidates import DEFINITION, IMPORT_OUTLINE, SIMILAR
from codepager.context.config import ContextConfig
from codepager.context.index_view import IndexView
from codepager.context.prompt_format import QWEN, format_for_tokenizer
from codepager.indexer.config import IndexConfig
from codepager.indexer.index import RepositoryIndex
from codepager.model.testing import make_tiny_tokenizer_json
from codepager.model.tokenizer import Tokenizer

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "repo_sample"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    folder = tmp_path_factory.mktemp("tokenizer")
    (folder / "tokenizer.json").write_text(make_tiny_tokenizer_json(), encoding="utf-8")
    return Tokenizer.from_dir(folder)


@pytest.fixture()
def index(tmp_path: Path):
    repo = tmp_path / "shop-repo"
    shutil.copytree(SAMPLE, repo)
    git.Repo.init(repo)
    idx = RepositoryIndex.open(repo, IndexConfig(cache_dir=tmp_path / "cache"))
    idx.build()
    yield idx
    idx.close()


def make_assembler(index: RepositoryIndex, tokenizer: Tokenizer, **settings) -> ContextAssembler:
    settings.setdefault("repo_budget_tokens", 4000)  # the tiny test tokenizer spends ~3 chars a token
    settings.setdefault("max_item_tokens", 1000)
    return ContextAssembler(IndexView(index, "shop"), tokenizer, format_for_tokenizer(tokenizer),
                            ContextConfig(**settings))


def buffer_at(index: RepositoryIndex, path: str, marker: str) -> tuple[str, int]:
    text = (index.root / path).read_text()
    return text, text.index(marker) + len(marker)


def test_symbol_from_another_file_brings_its_definition(index, tokenizer) -> None:
    text, offset = buffer_at(index, "shop/checkout.py", "total = cart.total_price(")
    text = text[:offset] + text[offset + 1:]
    by_definition = make_assembler(index, tokenizer, similar_windows=0)
    by_key = {item.key: item for item in by_definition.assemble("shop/checkout.py", text, offset).items}
    cart = by_key["shop/cart.py::symbol::Cart::0"]
    assert cart.source == DEFINITION and "def total_price" in cart.text
    assembler = make_assembler(index, tokenizer)
    assert assembler.format == QWEN
    context = assembler.assemble("shop/checkout.py", text, offset)
    # with similar code on, the class may come as a window instead; its text is there either way
    assert any(i.path == "shop/cart.py" and "def total_price" in i.text for i in context.items)
    assert {i.path for i in context.items if i.source == IMPORT_OUTLINE} >= {"shop/cart.py", "shop/money.py"}
    assert all(item.path != "shop/checkout.py" for item in context.items)  # never the on-disk copy
    decoded = tokenizer.decode(context.token_ids())
    assert decoded.startswith("<|repo_name|>shop\n<|file_sep|>")
    assert decoded.endswith("<|file_sep|>shop/checkout.py\n<|fim_prefix|>" + context.cut.prefix
                            + "<|fim_suffix|>" + context.cut.suffix + "<|fim_middle|>")
    assert context.prompt_tokens == len(context.token_ids())


def test_similar_code_from_another_file_is_retrieved(index, tokenizer) -> None:
    assembler = make_assembler(index, tokenizer, window_lines=4, window_stride=2)
    text = ("from shop.money import Money\n\n\ndef grand_total(lines):\n    total = Money(0)\n"
            "    for line in lines:\n")
    context = assembler.assemble("shop/report.py", text, len(text))
    similar = [i for i in context.items if i.source == SIMILAR]
    assert similar and similar[0].path == "shop/cart.py" and "total.add" in similar[0].text


def test_repository_part_stays_identical_while_typing(index, tokenizer) -> None:
    assembler = make_assembler(index, tokenizer)
    text, offset = buffer_at(index, "shop/checkout.py", "    total = ")
    first = assembler.assemble("shop/checkout.py", text, offset)
    typed = text[:offset] + "cart.tot" + text[offset:]
    second = assembler.assemble("shop/checkout.py", typed, offset + 3)
    third = assembler.assemble("shop/checkout.py", typed, offset + 8)
    assert second.reused_selection and third.reused_selection
    repo_part = len(first.header) + sum(len(i.tokens) for i in first.items)
    assert first.token_ids()[:repo_part] == third.token_ids()[:repo_part]
    assert [i.key for i in first.items] == [i.key for i in third.items]


def test_edit_of_another_file_shows_in_the_next_prompt(index, tokenizer) -> None:
    assembler = make_assembler(index, tokenizer, window_lines=8, window_stride=4)
    text, offset = buffer_at(index, "shop/checkout.py", "total = cart.total_price(")
    before = assembler.assemble("shop/checkout.py", text, offset)
    cart_path = index.root / "shop/cart.py"
    edited = cart_path.read_text().replace("def total_price(self)", "def total_price(self, tax=0)")
    cart_path.write_text(edited)
    report = index.update_file("shop/cart.py")
    assert "shop/cart.py::symbol::Cart::0" in report.removed_segment_ids
    assert "shop/checkout.py::symbol::checkout::0" not in report.removed_segment_ids
    assembler.refresh_file("shop/cart.py")
    after = assembler.assemble("shop/checkout.py", text, offset)
    old = {i.key: i for i in before.items}
    new = {i.key: i for i in after.items}
    assert after.reused_selection  # same place, same candidates: the selection is kept, its text renewed
    assert [i.key for i in before.items] == [i.key for i in after.items]
    changed = [k for k in old if "def total_price" in old[k].text]
    assert changed and all("tax=0" in new[k].text and "tax=0" not in old[k].text for k in changed)
    unchanged = [k for k in old if not k.startswith("shop/cart.py")]
    assert unchanged and all(old[k].tokens == new[k].tokens for k in unchanged)


def test_budget_and_no_repo_context(index, tokenizer) -> None:
    text, offset = buffer_at(index, "shop/checkout.py", "total = cart.total_price(")
    small = make_assembler(index, tokenizer, repo_budget_tokens=200)
    context = small.assemble("shop/checkout.py", text, offset)
    assert sum(len(i.tokens) for i in context.items) <= 200
    bare = make_assembler(index, tokenizer).assemble("shop/checkout.py", text, offset, repo_context=False)
    assert bare.items == [] and bare.header == []
    assert tokenizer.decode(bare.token_ids()).startswith("<|file_sep|>shop/checkout.py\n<|fim_prefix|>")
