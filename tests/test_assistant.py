"""The Assistant facade end to end: a real index of the sample repository, a tiny random model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from codepager.assistant import Assistant
from codepager.assistant_config import AssistantConfig
from codepager.context.config import ContextConfig
from codepager.engine.config import EngineConfig
from codepager.errors import RequestError
from codepager.indexer.config import IndexConfig

CHECKOUT = "shop/checkout.py"


def open_assistant(repo: Path, model_dir: Path, **settings) -> Assistant:
    context = ContextConfig(repo_budget_tokens=1000, max_item_tokens=600, prefix_tokens=200, suffix_tokens=60,
                            **settings.pop("context", {}))
    config = AssistantConfig(model_dir=model_dir, max_tokens=4, context=context,
                             index=IndexConfig(cache_dir=repo.parent / "cache"),
                             engine=EngineConfig(num_pages=400), **settings)
    return Assistant.open(repo, config)


def cursor_after(repo: Path, marker: str, path: str = CHECKOUT) -> tuple[str, int, int]:
    text = (repo / path).read_text()
    offset = text.index(marker) + len(marker)
    line = text.count("\n", 0, offset)
    return text, line, offset - (text.rfind("\n", 0, offset) + 1)


def test_cross_file_symbol_brings_its_file_into_the_context(repo, model_dir) -> None:
    with open_assistant(repo, model_dir, context={"similar_windows": 0}) as assistant:
        text, line, col = cursor_after(repo, "total = cart.total_price(")
        result = assistant.complete(CHECKOUT, text, line, col)
    symbols = {(s.path, s.symbol, s.source) for s in result.segments}
    assert ("shop/cart.py", "Cart", "definition") in symbols
    assert all(s.path != CHECKOUT for s in result.segments)
    out = result.to_dict()
    assert set(out) == {"completion", "context", "timings_ms"}
    assert set(out["timings_ms"]) == {"context", "first_token", "total"}
    assert out["context"]["prompt_tokens"] == result.prompt_tokens > sum(s.tokens for s in result.segments)


def test_exact_path_equals_a_plain_forward_pass(repo, model_dir) -> None:
    import transformers

    with open_assistant(repo, model_dir) as assistant:
        text, line, col = cursor_after(repo, "receipt.append(")
        result = assistant.complete(CHECKOUT, text, line, col, exact=True, max_tokens=6)
        offset = text.index("receipt.append(") + len("receipt.append(")
        prompt = assistant.assembler.assemble(CHECKOUT, text, offset).token_ids()
    assert len(prompt) == result.prompt_tokens and result.token_ids
    reference = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        ids = torch.tensor([prompt])
        generated = reference.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6,
                                       do_sample=False, eos_token_id=None, pad_token_id=0)
    expected = generated[0, len(prompt):].tolist()
    assert result.token_ids == expected[: len(result.token_ids)]


def test_typing_recomputes_only_the_changed_tail(repo, model_dir) -> None:
    with open_assistant(repo, model_dir) as assistant:
        text, line, col = cursor_after(repo, "    total = ")
        first = assistant.complete(CHECKOUT, text, line, col)
        assert first.computed_tokens == first.prompt_tokens  # cold: everything computed
        offset = text.index("    total = ") + len("    total = ")
        typed = text[:offset] + "cart.to" + text[offset:]
        second = assistant.complete(CHECKOUT, typed, line, col + len("cart.to"))
        a = assistant.assembler.assemble(CHECKOUT, text, offset).token_ids()
        b = assistant.assembler.assemble(CHECKOUT, typed, offset + 7).token_ids()
    common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    assert all(s.cached for s in second.segments)  # the whole repository part hit the prefix cache
    assert second.cached_tokens >= (common // 16) * 16
    assert second.computed_tokens == second.prompt_tokens - second.cached_tokens
    assert second.computed_tokens <= second.prompt_tokens - (common // 16) * 16
    assert second.computed_tokens < first.computed_tokens / 4


def test_editing_a_file_invalidates_exactly_its_segments(repo, model_dir) -> None:
    with open_assistant(repo, model_dir, reuse="segments") as assistant:
        text, line, col = cursor_after(repo, "total = cart.total_price(")
        first = assistant.complete(CHECKOUT, text, line, col)
        assert not any(s.cached for s in first.segments)
        cart = repo / "shop/cart.py"
        cart.write_text(cart.read_text().replace("total_price(self)", "total_price(self, tax_rate=0)"))
        report = assistant.file_changed("shop/cart.py")
        assert {i.split("::")[0] for i in report.removed_segment_ids} == {"shop/cart.py"}
        second = assistant.complete(CHECKOUT, text, line, col)
        prompt = assistant.engine.tokenizer.decode(
            assistant.assembler.assemble(CHECKOUT, text, text.index("total_price(") + 12).token_ids())
    by_key = {(s.path, s.symbol): s for s in second.segments}
    assert "tax_rate=0" in prompt
    for (path, _symbol), info in by_key.items():
        assert info.cached == (path != "shop/cart.py"), (path, info)


def test_buffer_overlay_wins_over_the_disk(repo, model_dir) -> None:
    with open_assistant(repo, model_dir) as assistant:
        money = (repo / "shop/money.py").read_text() + "\n\ndef refund_amount(m: Money) -> Money:\n    ...\n"
        assistant.set_buffer("shop/money.py", money)
        assert "def refund_amount" in assistant.view.outline("shop/money.py").text
        hits = assistant.assembler.windows.search("refund_amount(payment)")
        assert hits and hits[0].window.path == "shop/money.py"
        assistant.close_buffer("shop/money.py")
        assert "def refund_amount" not in assistant.view.outline("shop/money.py").text
        assert assistant.assembler.windows.search("refund_amount(payment)") == []


def test_restart_restores_persisted_outline_kv(repo, model_dir) -> None:
    text, line, col = cursor_after(repo, "total = cart.total_price(")
    settings = {"reuse": "segments", "context": {"similar_windows": 0, "max_definitions": 1}}
    with open_assistant(repo, model_dir, **settings) as assistant:
        first = assistant.complete(CHECKOUT, text, line, col)
        assert assistant.persistence is not None and assistant.persistence.stats.saved > 0
    outlines = [s for s in first.segments if s.symbol == "<outline>"]
    assert outlines and not any(s.cached for s in outlines)
    with open_assistant(repo, model_dir, **settings) as restarted:
        second = restarted.complete(CHECKOUT, text, line, col)
        restored = restarted.persistence.stats.restored
    assert restored == len(outlines)
    assert [s.cached for s in second.segments] == [s.symbol == "<outline>" for s in second.segments]
    assert second.computed_tokens == first.computed_tokens - sum(s.tokens for s in outlines)


def test_bad_requests_are_one_line_errors(repo, model_dir, tmp_path) -> None:
    (repo / "blob.bin").write_bytes(b"\0\1\2binary")
    outside = tmp_path / "outside.py"
    outside.write_text("x = 1\n")
    with open_assistant(repo, model_dir) as assistant:
        with pytest.raises(RequestError, match="line 999"):
            assistant.complete(CHECKOUT, None, 998, 0)
        with pytest.raises(RequestError, match="column"):
            assistant.complete(CHECKOUT, None, 0, 500)
        with pytest.raises(RequestError, match="outside"):
            assistant.complete(outside, None, 0, 0)
        with pytest.raises(RequestError, match="binary"):
            assistant.complete("blob.bin", None, 0, 0)
        with pytest.raises(RequestError, match="reuse mode"):
            assistant.complete(CHECKOUT, None, 0, 0, reuse="telepathy")


def test_explain_reports_definition_signature_doc_and_references(repo, model_dir) -> None:
    with open_assistant(repo, model_dir) as assistant:
        text, line, col = cursor_after(repo, "{format_price(")
        explanation = assistant.explain(CHECKOUT, line, col - 3)
    assert explanation.definition is not None and explanation.definition.path == "shop/money.py"
    assert explanation.signature.startswith("def format_price(amount: Money) -> str")
    assert explanation.docstring == "Render an amount as '12.34 EUR'."
    assert {(r.path, r.line) for r in explanation.references} >= {(CHECKOUT, 21)}
    assert "shop/money.py" in explanation.markdown()


def test_cursor_in_leading_indentation_is_cut_at_the_line_start(repo, model_dir) -> None:
    # The model writes the line's indentation itself: the prompt for a cursor after 4 typed spaces
    # is the prompt for the same line with nothing typed, and the typed spaces come off the answer.
    text = (repo / CHECKOUT).read_text()
    start = text.index("    total = cart.total_price()")
    blank = text[:start] + "\n" + text[start:].split("\n", 1)[1]  # the line left empty
    indented = blank[:start] + "    " + blank[start:]
    line = text.count("\n", 0, start)
    with open_assistant(repo, model_dir) as assistant:
        typed = assistant.assembler.assemble(CHECKOUT, indented, start + 4)
        fresh = assistant.assembler.assemble(CHECKOUT, blank, start)
        assert typed.cut.indent == "    " and fresh.cut.indent == ""
        assert typed.token_ids() == fresh.token_ids()
        at_indent = assistant.complete(CHECKOUT, indented, line, 4, exact=True, max_tokens=6)
        at_start = assistant.complete(CHECKOUT, blank, line, 0, exact=True, max_tokens=6)
    assert at_indent.raw == at_start.raw
    leading = len(at_start.raw) - len(at_start.raw.lstrip(" \t"))
    assert not at_indent.completion.startswith(" " * max(1, leading - 3))
