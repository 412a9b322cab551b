"""The per-request host work of a warm request: page hashes seeded from the previous prompt are the
hashes a fresh computation gives, a request is planned once per admission, and the work left is
proportional to the new pages."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codepager.engine import block_manager as block_manager_module
from codepager.engine.block_manager import ROOT_HASH, BlockManager, chain_hash
from codepager.engine.config import SamplingParams
from codepager.engine.scheduler import Scheduler
from codepager.engine.segments import SegmentHandle, content_hash
from codepager.engine.sequence import PAGE_SIZE, Sequence, pages_for
from codepager.errors import RequestError

PARAMS = SamplingParams(max_tokens=4)


def reference_hashes(seq: Sequence, count: int) -> list[bytes]:
    """The chain computed page by page from the definition (block_manager's docstring)."""
    hashes, parent = [], ROOT_HASH
    for index in range(count):
        entry = seq.page_entry(index)
        span = seq.span_at(entry.start)
        if span.segment is None:
            tokens = seq.token_ids[entry.start:entry.start + entry.length]
            parent = chain_hash(parent, b"own", entry.start, array("q", tokens).tobytes())
        elif span.first_page == index:
            parent = chain_hash(parent, b"seg", entry.shift, span.link_key)
        hashes.append(parent)
    return hashes


def sealed_pages(seq: Sequence) -> int:
    entries = seq.page_entries()
    return len(entries) - (not entries[-1].sealed)


def segment(tokens: list[int], first_page: int = 1000) -> SegmentHandle:
    pages = tuple(range(first_page, first_page + pages_for(len(tokens))))
    return SegmentHandle(first_page, content_hash(tokens), tuple(tokens), pages, holders=1)


def hashes_after(bm: BlockManager, seq: Sequence) -> list[bytes]:
    count = sealed_pages(seq)
    if count:
        bm._page_hash(seq, count - 1)
    return seq.page_hashes[:count]


tokens = st.lists(st.integers(0, 3), max_size=120)


@settings(max_examples=60, deadline=None)
@given(shared=tokens, tail_a=tokens, tail_b=tokens, seg=st.booleans())
def test_hashes_seeded_from_the_last_prompt_equal_fresh_ones(shared, tail_a, tail_b, seg):
    bm = BlockManager(8)  # hashing never touches pages
    first = Sequence([shared + tail_a + [9]], PARAMS)
    hashes_after(bm, first)
    parts: list = [shared + tail_b + [9]]
    if seg:  # an own run, a placed segment, more own tokens
        parts = [shared + tail_b + [8], segment([5] * 20), [7, 7]]
    second = Sequence(parts, PARAMS)
    assert hashes_after(bm, second) == reference_hashes(second, sealed_pages(second))
    assert hashes_after(BlockManager(8), Sequence(parts, PARAMS)) == second.page_hashes


def test_a_prompt_starting_with_a_segment_takes_nothing_from_the_last_one():
    bm = BlockManager(8)
    body = [1] * 40
    hashes_after(bm, Sequence([body + [2]], PARAMS))
    seq = Sequence([segment(body), [2] * 20], PARAMS)
    assert hashes_after(bm, seq) == reference_hashes(seq, sealed_pages(seq))


@pytest.fixture
def count_hashes(monkeypatch) -> list[int]:
    counter = [0]
    real = block_manager_module.chain_hash

    def counted(*args):
        counter[0] += 1
        return real(*args)

    monkeypatch.setattr(block_manager_module, "chain_hash", counted)
    return counter


def admit(scheduler: Scheduler, prompt: list[int]) -> Sequence:
    seq = Sequence([prompt], PARAMS)
    scheduler.add(seq)
    scheduler.schedule()
    return seq


def test_a_warm_request_hashes_only_its_new_pages_and_plans_once(count_hashes, monkeypatch):
    bm = BlockManager(200)
    scheduler = Scheduler(bm, max_num_seqs=4, max_num_batched_tokens=4096, max_model_len=4096,
                          eos_token_ids=[0])
    context = [(i * 7) % 50 + 1 for i in range(100 * PAGE_SIZE)]
    last = admit(scheduler, context + [1, 2, 3])
    last.set_computed(len(last))
    bm.commit_computed_pages(last)
    scheduler.finish(last, "stop")
    assert count_hashes[0] == 100  # the editor's previous request: every full page once

    plans = [0]
    real_plan = BlockManager._plan

    def counted_plan(self, seq):
        plans[0] += 1
        return real_plan(self, seq)

    monkeypatch.setattr(BlockManager, "_plan", counted_plan)
    count_hashes[0] = 0
    typed = context + [4, 5, 6] + [9] * PAGE_SIZE  # the user typed: one new full page
    warm = admit(scheduler, typed)
    assert count_hashes[0] == 1
    assert warm.prompt_tokens_cached == 100 * PAGE_SIZE
    assert warm.num_computed_tokens == 100 * PAGE_SIZE
    assert plans[0] == 2 and warm.page_plan is not None  # can_allocate + allocate share one plan
    bm.check_invariants(scheduler.holders())


def test_a_plan_made_while_waiting_sees_pages_committed_since():
    bm = BlockManager(12)
    scheduler = Scheduler(bm, max_num_seqs=4, max_num_batched_tokens=4096, max_model_len=4096,
                          eos_token_ids=[0])
    prompt = list(range(1, 8 * PAGE_SIZE + 1))
    first = admit(scheduler, prompt + [1])  # 9 of 12 pages
    waiting = Sequence([prompt + [2]], PARAMS)
    scheduler.add(waiting)
    scheduler.schedule()
    assert not bm.can_allocate(waiting) and waiting in scheduler.waiting  # 9 fresh pages needed
    first.set_computed(len(first))
    bm.commit_computed_pages(first)  # now the 8 shared pages are cached hits
    assert bm.can_allocate(waiting)
    bm.allocate(waiting)
    assert waiting.block_table[:8] == first.block_table[:8]
    assert waiting.prompt_tokens_cached == 8 * PAGE_SIZE


def test_token_ids_outside_the_vocabulary_are_rejected(make_engine):
    engine = make_engine()
    vocab = engine.loaded.config.vocab_size
    for bad in ([1, 2, vocab], [-1, 2], [vocab + 5]):
        with pytest.raises(RequestError, match="outside the vocabulary"):
            engine.add_request(bad)
    engine.add_request([0, vocab - 1])
