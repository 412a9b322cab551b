"""Position-independent segments: encoded once at local positions, placed zero-copy at any offset."""

from __future__ import annotations

import pytest
import torch

from codepager.engine.config import SamplingParams
from codepager.engine.sequence import PAGE_SIZE, pages_for
from codepager.errors import RequestError
from codepager.model.attention_backend import AttentionMetadata

KEEP = SamplingParams(max_tokens=1, keep_prompt_logits=True)


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual - expected).norm() / expected.norm())


def run_pass(model, caches, tokens, first_position, first_page, context_pages):
    """Compute `tokens` at positions first_position.. into fresh pages from first_page on, attending
    to `context_pages` [(page, start, length)] and to themselves; returns logits [len(tokens), vocab]."""
    n = len(tokens)
    own = [(first_page + k, first_position + PAGE_SIZE * k, min(PAGE_SIZE, n - PAGE_SIZE * k))
           for k in range(pages_for(n))]
    pages = context_pages + own
    positions = torch.arange(first_position, first_position + n)
    slots = torch.tensor([(first_page + i // PAGE_SIZE) * PAGE_SIZE + i % PAGE_SIZE for i in range(n)])
    meta = AttentionMetadata(
        slot_mapping=slots, block_tables=torch.tensor([[p for p, _, _ in pages]], dtype=torch.int32),
        page_starts=torch.tensor([[s for _, s, _ in pages]], dtype=torch.int32),
        page_lens=torch.tensor([[length for _, _, length in pages]], dtype=torch.int32), page_shifts=None,
        cu_seqlens_q=torch.tensor([0, n], dtype=torch.int32), q_positions=positions.to(torch.int32),
        is_decode=False,
    )
    with torch.inference_mode():
        hidden = model(torch.tensor(tokens), positions, meta, caches)
        return model.compute_logits(hidden), own


@pytest.mark.parametrize("model_type", ["qwen2", "llama"])
def test_segment_at_offset_equals_segment_encoded_alone_at_that_offset(model_type, make_engine, tiny_loaded):
    engine = make_engine(model_type)
    prefix = engine.encode_prompt("import os\nfrom pathlib import Path\n")  # B, not page-aligned
    segment = engine.tokenizer.encode("def get(self, key):\n    return self.items.get(key)\n")
    tail = engine.tokenizer.encode("\n\nclass Cache:\n    def put(self")
    assert len(prefix) % PAGE_SIZE and len(segment) % PAGE_SIZE  # partial pages on both sides
    handle = engine.encode_segment(segment)
    [out] = engine.generate([[prefix, handle, tail]], KEEP)
    offset = len(prefix)
    tail_positions = list(range(offset + len(segment), offset + len(segment) + len(tail)))
    assert out.prompt_logit_positions == list(range(offset)) + tail_positions
    engine_tail_logits = out.prompt_logits[offset:]

    # reference: the same segment computed alone at positions B.., then the tail after it
    model = tiny_loaded(model_type).model
    caches = model.allocate_kv_caches(32)
    _, prefix_pages = run_pass(model, caches, prefix, 0, 0, [])
    _, segment_pages = run_pass(model, caches, segment, offset, 8, [])
    expected, _ = run_pass(model, caches, tail, offset + len(segment), 16, prefix_pages + segment_pages)
    assert relative_error(engine_tail_logits, expected) <= 1e-5


def test_segment_at_offset_zero_equals_plain_prompt(make_engine):
    engine = make_engine()
    segment = engine.tokenizer.encode("class Cache:\n    def __init__(self, capacity: int = 16) -> None:\n")
    tail = engine.tokenizer.encode("        self.items = {}")
    handle = engine.encode_segment(segment)
    [placed] = engine.generate([[handle, tail]], KEEP)
    [plain] = make_engine(enable_prefix_caching=False).generate([segment + tail], KEEP)
    assert placed.prompt_tokens_computed == len(tail)  # the segment itself is never recomputed
    assert plain.prompt_tokens_computed == len(segment) + len(tail)
    assert relative_error(placed.prompt_logits, plain.prompt_logits[len(segment):]) <= 1e-5


def test_requests_share_segment_pages_at_different_offsets(make_engine):
    engine = make_engine()
    segment = engine.tokenizer.encode("def read_config(path: str) -> dict:\n    return json.load(path)\n")
    handle = engine.encode_segment(segment)
    computed_after_encode = engine.stats().tokens_computed
    again = engine.encode_segment(segment)  # a cache hit: same handle, nothing computed
    assert again is handle and engine.stats().segment_hits == 1
    assert engine.stats().tokens_computed == computed_after_encode

    short, long = engine.tokenizer.encode("import os\n"), engine.tokenizer.encode("x = 1\n" * 6)
    tail = engine.tokenizer.encode("print(read_config(")
    engine.add_request([short, handle, tail], SamplingParams(max_tokens=4), request_id="a")
    engine.add_request([long, handle, tail], SamplingParams(max_tokens=4), request_id="b")
    engine.step()
    placements = {}
    for seq in engine.scheduler.running:
        entries = seq.page_entries()
        first = seq.spans[1].first_page
        segment_entries = entries[first:first + len(handle.page_ids)]
        assert seq.block_table[first:first + len(handle.page_ids)] == list(handle.page_ids)
        offset = seq.spans[1].start
        expected_starts = [offset + PAGE_SIZE * k for k in range(len(handle.page_ids))]
        assert [e.start for e in segment_entries] == expected_starts
        assert {e.shift for e in segment_entries} == {offset}
        placements[seq.request_id] = offset
    assert placements == {"a": len(short), "b": len(long)}
    while engine.has_unfinished():
        engine.step()

    engine.release_segment(handle)
    engine.release_segment(handle)
    assert engine.stats().live_segments == 0
    assert engine.stats().free_pages == engine.stats().num_pages  # nothing leaked
    # released pages stay in the prefix cache: encoding the same tokens again computes nothing
    before = engine.stats().tokens_computed
    engine.release_segment(engine.encode_segment(segment))
    assert engine.stats().tokens_computed == before


def test_released_segment_cannot_be_placed(make_engine):
    engine = make_engine()
    handle = engine.encode_segment(engine.tokenizer.encode("def f(): pass"))
    engine.release_segment(handle)
    with pytest.raises(RequestError, match="released"):
        engine.add_request([[1, 2], handle, [3]])
    with pytest.raises(RequestError, match="must end with plain tokens"):
        engine.add_request([[1, 2], engine.encode_segment([5, 6, 7])])


def test_chunked_prefill_across_a_segment_matches_one_shot(make_engine):
    outputs = []
    for budget in (4096, 5):
        engine = make_engine(max_num_batched_tokens=budget)
        prefix = engine.encode_prompt("import os\nimport sys\n")
        handle = engine.encode_segment(engine.tokenizer.encode("def get(self, key):\n    return key\n"))
        tail = engine.tokenizer.encode("class Cache:\n    def put(self")
        [out] = engine.generate([[prefix, handle, tail]], SamplingParams(max_tokens=12, ignore_eos=True,
                                                                          keep_prompt_logits=True))
        outputs.append(out)
    one_shot, chunked = outputs
    assert chunked.token_ids == one_shot.token_ids
    assert chunked.prompt_logit_positions == one_shot.prompt_logit_positions
    assert relative_error(chunked.prompt_logits, one_shot.prompt_logits) <= 1e-5
