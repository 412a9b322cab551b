"""Reuse modes: how an assembled prompt becomes engine parts, run through a real engine."""

from __future__ import annotations

import pytest
import torch

from codepager.context.assembler import AssembledContext
from codepager.context.candidates import DEFINITION, IMPORT_OUTLINE, SIMILAR, ContextItem
from codepager.context.prompt_format import QWEN
from codepager.context.reuse import (
    BLEND,
    HEAD,
    HEAD_TOKENS,
    PREAMBLE,
    PREFIX,
    REUSE_MODES,
    SEGMENTS,
    SegmentCache,
    plan_prompt,
)
from codepager.engine.config import EngineConfig, SamplingParams
from codepager.engine.llm_engine import LLMEngine
from codepager.engine.segments import SegmentHandle, SegmentPlacement
from codepager.indexer.store import IndexStore
from codepager.kv_persistence import KVPersistence
from codepager.model.loader import load_model
from codepager.model.testing import make_tiny_model_dir

GREEDY = SamplingParams(max_tokens=4, ignore_eos=True)
ITEMS = [
    ("shop/money.py", "<outline>", IMPORT_OUTLINE,
     "# shop/money.py\nclass Money:\n    def add(self, other): ...\n"),
    ("shop/cart.py", "Cart", DEFINITION,
     "class Cart:\n    def __init__(self):\n        self.items = []\n    def total_price(self):\n"
     "        return sum(item.price for item in self.items)\n"),
    ("t.py", "lines 1-1", SIMILAR, "x\n"),  # shorter than one head
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return load_model(make_tiny_model_dir(tmp_path_factory.mktemp("reuse_model"), "qwen2", seed=5))


@pytest.fixture
def engine(loaded):
    return LLMEngine(loaded, EngineConfig(num_pages=128))


def make_context(engine: LLMEngine, current_text: str = "total = cart.total_price(") -> AssembledContext:
    encode = engine.tokenizer.encode
    header = encode("<|repo_name|>shop\n")
    items = [ContextItem(f"{path}::{symbol}", path, symbol, source, text, str(hash(text)),
                         tokens=encode(f"<|file_sep|>{path}\n{text}"))
             for path, symbol, source, text in ITEMS]
    current = encode(f"<|file_sep|>shop/checkout.py\n<|fim_prefix|>{current_text}"
                     "<|fim_suffix|>\n<|fim_middle|>")
    return AssembledContext(QWEN, header, items, current, cut=None)


def run(engine: LLMEngine, parts) -> object:
    [out] = engine.generate([parts], GREEDY)
    return out


@pytest.mark.parametrize("mode", REUSE_MODES)
def test_every_mode_lays_out_the_assembled_tokens_in_order(mode, engine):
    context = make_context(engine)
    plan = plan_prompt(context, mode, SegmentCache(engine))
    engine.add_request(plan.parts, GREEDY, request_id="r")
    [seq] = list(engine.scheduler.waiting)
    assert seq.token_ids == context.token_ids() and plan.num_tokens == len(seq.token_ids)
    assert [end - start for start, end in plan.item_offsets] == [len(i.tokens) for i in context.items]
    kinds = [type(p) for p in plan.parts]
    if mode == PREFIX:
        assert kinds == [list]
    elif mode in (SEGMENTS, PREAMBLE):
        assert kinds == [list, SegmentHandle, SegmentHandle, SegmentHandle, list]
        preambles = {p.preamble for p in plan.parts if isinstance(p, SegmentHandle)}
        assert preambles == ({tuple(context.header)} if mode == PREAMBLE else {()})
    elif mode == HEAD:  # the short item is all head: plain tokens
        assert kinds == [list, SegmentPlacement, SegmentPlacement, list, list]
        assert {p.recompute_head for p in plan.parts[1:3]} == {HEAD_TOKENS}
    else:
        assert kinds == [list, SegmentPlacement, SegmentPlacement, SegmentPlacement, list]
        assert {p.blend for p in plan.parts[1:4]} == {0.15}
    engine.cancel("r")


def test_preamble_mode_at_its_encode_offset_computes_what_the_exact_prompt_computes(engine, loaded):
    """Only the first item sits right after the header, where it was encoded: its placement is exact,
    so with a single item the whole prompt equals the exact one."""
    context = make_context(engine)
    context.items = context.items[1:2]
    plan = plan_prompt(context, PREAMBLE, SegmentCache(engine))
    placed = run(engine, plan.parts)
    exact = run(LLMEngine(loaded, EngineConfig(num_pages=128)), context.token_ids())
    assert placed.token_ids == exact.token_ids
    assert placed.prompt_tokens_computed == len(context.current)  # the header hits the preamble's pages


@pytest.mark.parametrize("mode", [SEGMENTS, PREAMBLE, HEAD, BLEND])
def test_second_prompt_reuses_every_segment_and_counts_reused_tokens(mode, engine):
    segments = SegmentCache(engine)
    context = make_context(engine)
    first = plan_prompt(context, mode, segments)
    out = run(engine, first.parts)
    assert not any(first.item_reused)
    # everything computed now (with a preamble, the header hits the pages its encode computed)
    assert first.reused_tokens(out.prompt_tokens_computed) == (len(context.header) if mode == PREAMBLE else 0)
    typed = make_context(engine, "total = cart.total_price() +")
    computed_before = engine.stats().tokens_computed
    second = plan_prompt(typed, mode, segments)
    assert engine.stats().tokens_computed == computed_before  # no segment encoded again
    out = run(engine, second.parts)
    placed = [len(i.tokens) for i in typed.items if mode != HEAD or len(i.tokens) > HEAD_TOKENS]
    assert all(second.item_reused[i] for i in range(len(placed)))
    reused = second.reused_tokens(out.prompt_tokens_computed)
    if mode == HEAD:
        assert reused >= sum(n - HEAD_TOKENS for n in placed)
    elif mode == BLEND:
        recomputed = sum(-(-n * 15 // 100) for n in placed)
        assert reused >= sum(placed) - recomputed
    else:
        assert reused >= sum(placed)
    assert reused + out.prompt_tokens_computed == second.num_tokens


def test_preamble_segments_persist_under_their_own_key(engine, tmp_path):
    context = make_context(engine)
    item = context.items[0]
    with IndexStore(tmp_path / "store") as store:
        persistence = KVPersistence(engine, store, "fp")
        handle = engine.encode_segment(item.tokens, context.header)
        persistence.save(handle)
        assert persistence.restore(item.tokens) is None  # same tokens, no preamble: another segment
        other = LLMEngine(engine.loaded, EngineConfig(num_pages=64))
        restored = KVPersistence(other, store, "fp").restore(item.tokens, context.header)
    assert restored is not None and restored.preamble == tuple(context.header)
    for pool in ("k_pool", "v_pool"):
        saved = getattr(engine.runner, pool)[:, list(handle.page_ids)]
        assert torch.equal(getattr(other.runner, pool)[:, list(restored.page_ids)], saved)
    other.block_manager.check_invariants(other.scheduler.holders())
