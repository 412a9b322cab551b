"""Segment-reuse repairs, each against a hand-built reference: a segment encoded after a shared
preamble, EPIC (a segment's first tokens recomputed in context), CacheBlend (the most deviating
tokens recomputed in context into private page copies). Shared pages are never written."""

from __future__ import annotations

import pytest
import torch

from codepager.engine.config import SamplingParams
from codepager.engine.sequence import PAGE_SIZE, pages_for
from codepager.errors import RequestError
from codepager.kernels.paged_layout import rotate_by
from codepager.model.attention_backend import AttentionMetadata

KEEP = SamplingParams(max_tokens=6, ignore_eos=True, keep_prompt_logits=True)
PREFIX = "import os\nfrom pathlib import Path\n\n"
SEGMENT = ("def read_config(path: str) -> dict:\n    with open(path) as handle:\n"
           "        return json.load(handle)\n")
TAIL = "\n\nconfig = read_config("


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual - expected).norm() / expected.norm())


class ManualCache:
    """KV pages filled by explicit forward passes: the reference every repair is compared with."""

    def __init__(self, model, num_pages: int = 48) -> None:
        self.model = model
        self.caches = model.allocate_kv_caches(num_pages)
        self.next_page = 0

    def fresh(self, count: int) -> list[int]:
        pages = list(range(self.next_page, self.next_page + count))
        self.next_page += count
        return pages

    def run(self, tokens, positions, slots, pages) -> torch.Tensor:
        """Logits of `tokens` at `positions`, K/V stored to `slots`, attending to `pages`
        [(page, start, length, shift)] causally by position."""
        shifts = [s for _, _, _, s in pages]
        meta = AttentionMetadata(
            slot_mapping=torch.tensor(slots, dtype=torch.int64),
            block_tables=torch.tensor([[p for p, _, _, _ in pages]], dtype=torch.int32),
            page_starts=torch.tensor([[s for _, s, _, _ in pages]], dtype=torch.int32),
            page_lens=torch.tensor([[n for _, _, n, _ in pages]], dtype=torch.int32),
            page_shifts=torch.tensor([shifts], dtype=torch.int32) if any(shifts) else None,
            cu_seqlens_q=torch.tensor([0, len(tokens)], dtype=torch.int32),
            q_positions=torch.tensor(positions, dtype=torch.int32), is_decode=False,
        )
        with torch.inference_mode():
            hidden = self.model(torch.tensor(tokens), torch.tensor(positions), meta, self.caches)
            return self.model.compute_logits(hidden)

    def compute(self, tokens, first_position: int, context=()) -> tuple[torch.Tensor, list[tuple]]:
        """Tokens at first_position.. into fresh pages after `context`; (logits, their pages)."""
        n = len(tokens)
        pages = self.fresh(pages_for(n))
        own = [(pages[k], first_position + PAGE_SIZE * k, min(PAGE_SIZE, n - PAGE_SIZE * k), 0)
               for k in range(len(pages))]
        slots = [pages[i // PAGE_SIZE] * PAGE_SIZE + i % PAGE_SIZE for i in range(n)]
        positions = list(range(first_position, first_position + n))
        return self.run(tokens, positions, slots, list(context) + own), own

    def copy(self, pages: list[tuple]) -> list[tuple]:
        new = self.fresh(len(pages))
        for k_cache, v_cache in self.caches:
            k_cache[new] = k_cache[[p for p, _, _, _ in pages]]
            v_cache[new] = v_cache[[p for p, _, _, _ in pages]]
        return [(n, s, length, shift) for n, (_, s, length, shift) in zip(new, pages, strict=True)]

    def layer_kv(self, layer: int, pages: list[tuple], count: int) -> tuple[torch.Tensor, torch.Tensor]:
        slots = [pages[i // PAGE_SIZE][0] * PAGE_SIZE + i % PAGE_SIZE for i in range(count)]
        k_cache, v_cache = self.caches[layer]
        return k_cache.flatten(0, 1)[slots].float(), v_cache.flatten(0, 1)[slots].float()


def logits_at(out, positions) -> torch.Tensor:
    rows = {p: i for i, p in enumerate(out.prompt_logit_positions)}
    return out.prompt_logits[[rows[p] for p in positions]]


def tokens_of(engine):
    encode = engine.tokenizer.encode
    return engine.encode_prompt(PREFIX), encode(SEGMENT), encode(TAIL)


def plain_run(make_engine, model_type, prompt):
    [out] = make_engine(model_type, enable_prefix_caching=False).generate([prompt], KEEP)
    return out


def pool_snapshot(engine, page_ids) -> tuple[torch.Tensor, torch.Tensor]:
    index = torch.tensor(list(page_ids))
    return (engine.runner.k_pool.index_select(1, index).clone(),
            engine.runner.v_pool.index_select(1, index).clone())


def run_checked(engine, prompts):
    """Run prompts together, checking page accounting after every step; final outputs in order."""
    ids = [engine.add_request(p, KEEP) for p in prompts]
    finals = {}
    while engine.has_unfinished():
        for out in engine.step():
            if out.finished:
                finals[out.request_id] = out
        engine.block_manager.check_invariants(engine.scheduler.holders())
    return [finals[i] for i in ids]


# -- shared preamble ----------------------------------------------------------------------------

@pytest.mark.parametrize("model_type", ["qwen2", "llama"])
def test_preamble_segment_at_its_encode_offset_equals_the_plain_prompt(model_type, make_engine):
    engine = make_engine(model_type)
    prefix, segment, tail = tokens_of(engine)
    handle = engine.encode_segment(segment, preamble=prefix)
    assert handle.base == len(prefix) and len(handle.page_ids) == pages_for(len(segment))
    [out] = engine.generate([[prefix, handle, tail]], KEEP)
    plain = plain_run(make_engine, model_type, prefix + segment + tail)
    # the header hits the preamble's pages from the encode, the segment is placed: only the tail runs
    assert out.prompt_tokens_computed == len(tail)
    assert out.token_ids == plain.token_ids
    expected = plain.prompt_logits[len(prefix) + len(segment):]
    assert relative_error(out.prompt_logits, expected) <= 1e-5


def test_preamble_segment_placed_elsewhere_matches_reference(make_engine, tiny_loaded):
    engine = make_engine("qwen2")
    prefix, segment, tail = tokens_of(engine)
    filler = engine.tokenizer.encode("import sys\nimport json\n" * 2)
    handle = engine.encode_segment(segment, preamble=prefix)
    [out] = engine.generate([[prefix + filler, handle, tail]], KEEP)
    offset = len(prefix) + len(filler)

    ref = ManualCache(tiny_loaded("qwen2").model)
    _, request_pages = ref.compute(prefix + filler, 0)
    _, preamble_pages = ref.compute(prefix, offset - len(prefix))  # the preamble right before it
    _, segment_pages = ref.compute(segment, offset, preamble_pages)
    expected, _ = ref.compute(tail, offset + len(segment), request_pages + segment_pages)
    tail_positions = range(offset + len(segment), offset + len(segment) + len(tail))
    assert relative_error(logits_at(out, tail_positions), expected) <= 1e-5


# -- EPIC: the segment's first tokens recomputed in context --------------------------------------

@pytest.mark.parametrize("model_type", ["qwen2", "qwen3"])
def test_head_recompute_matches_reference(model_type, make_engine, tiny_loaded):
    engine = make_engine(model_type)
    prefix, segment, tail = tokens_of(engine)
    assert len(segment) > 2 * PAGE_SIZE
    handle = engine.encode_segment(segment)
    [out] = engine.generate([[prefix, handle.placed(recompute_head=16), tail]], KEEP)
    offset = len(prefix)
    tail_start = offset + len(segment)
    assert out.prompt_tokens_computed == offset + 16 + len(tail)
    tail_positions = list(range(tail_start, tail_start + len(tail)))
    assert out.prompt_logit_positions == list(range(offset + 16)) + tail_positions

    ref = ManualCache(tiny_loaded(model_type).model)
    _, prefix_pages = ref.compute(prefix, 0)
    head_logits, head_pages = ref.compute(segment[:16], offset, prefix_pages)
    _, standalone = ref.compute(segment, offset)  # the segment alone (at its placed positions)
    expected, _ = ref.compute(tail, tail_start, prefix_pages + head_pages + standalone[1:])
    assert relative_error(out.prompt_logits[offset:offset + 16], head_logits) <= 1e-5
    assert relative_error(out.prompt_logits[offset + 16:], expected) <= 1e-5


def test_head_covering_the_whole_segment_equals_full_prefill(make_engine):
    engine = make_engine("qwen2")
    prefix, segment, tail = tokens_of(engine)
    handle = engine.encode_segment(segment)
    plain = plain_run(make_engine, "qwen2", prefix + segment + tail)
    for head in (len(segment), 1024):
        [out] = engine.generate([[prefix, handle.placed(recompute_head=head), tail]], KEEP)
        assert out.token_ids == plain.token_ids  # the second run hits the first one's pages
        expected = logits_at(plain, out.prompt_logit_positions)
        assert relative_error(out.prompt_logits, expected) <= 1e-5


def test_placement_settings_are_validated(make_engine):
    engine = make_engine("qwen2")
    handle = engine.encode_segment(tokens_of(engine)[1])
    with pytest.raises(RequestError, match="multiple of 16"):
        handle.placed(recompute_head=8)
    with pytest.raises(RequestError, match="blend"):
        handle.placed(blend=1.5)


# -- CacheBlend: most deviating tokens recomputed in context -------------------------------------

def test_blend_with_every_token_recomputed_equals_full_prefill(make_engine):
    engine = make_engine("qwen2")
    prefix, segment, tail = tokens_of(engine)
    handle = engine.encode_segment(segment)
    [out] = engine.generate([[prefix, handle.placed(blend=1.0), tail]], KEEP)
    plain = plain_run(make_engine, "qwen2", prefix + segment + tail)
    assert out.prompt_logit_positions == list(range(len(prefix + segment + tail)))
    assert out.token_ids == plain.token_ids
    assert relative_error(out.prompt_logits, plain.prompt_logits) <= 1e-5


def reference_deviation(ref: ManualCache, in_context: list[tuple], standalone: list[tuple],
                        count: int, offset: int, inv_freq: torch.Tensor) -> torch.Tensor:
    k_ctx, v_ctx = ref.layer_kv(1, in_context, count)
    k_ctx = rotate_by(k_ctx, torch.full((count,), -offset), inv_freq)  # to the stored positions
    k_old, v_old = ref.layer_kv(1, standalone, count)
    dk = (k_ctx - k_old).pow(2).sum(dim=(1, 2)) / k_old.pow(2).sum(dim=(1, 2)).mean()
    dv = (v_ctx - v_old).pow(2).sum(dim=(1, 2)) / v_old.pow(2).sum(dim=(1, 2)).mean()
    return dk + dv


@pytest.mark.parametrize("model_type", ["qwen2", "qwen3"])
def test_blend_recomputes_the_most_deviating_tokens_like_the_reference(model_type, make_engine, tiny_loaded):
    engine = make_engine(model_type)
    prefix, segment, tail = tokens_of(engine)
    handle = engine.encode_segment(segment)
    selections = []
    select = engine.scheduler.select_blend
    engine.scheduler.select_blend = lambda seq, span: selections.append(select(seq, span)) or selections[-1]
    before = pool_snapshot(engine, handle.page_ids)
    [out] = run_checked(engine, [[prefix, handle.placed(blend=0.25), tail]])
    after = pool_snapshot(engine, handle.page_ids)
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))  # shared pages untouched
    offset, n = len(prefix), len(segment)
    [chosen] = selections
    assert len(chosen) == -(-n // 4)

    model = tiny_loaded(model_type).model
    ref = ManualCache(model)
    _, full_pages = ref.compute(prefix + segment, 0)  # full prefill: the K/V blending aims at
    _, local = ref.compute(segment, 0)  # the segment encoded alone
    in_context = _pages_from(ref, full_pages, offset, n)
    deviation = reference_deviation(ref, in_context, local, n, offset, model.rope_inv_freq)
    assert chosen == sorted(offset + i for i in torch.topk(deviation, len(chosen)).indices.tolist())

    # recompute reference: private copy of the placed segment, chosen positions run through it
    _, prefix_pages = ref.compute(prefix, 0)
    _, placed = ref.compute(segment, offset)
    private = ref.copy(placed)
    slots = [private[(p - offset) // PAGE_SIZE][0] * PAGE_SIZE + (p - offset) % PAGE_SIZE for p in chosen]
    chosen_logits = ref.run([segment[p - offset] for p in chosen], chosen, slots, prefix_pages + private)
    expected, _ = ref.compute(tail, offset + n, prefix_pages + private)
    tail_rows = len(prefix) + len(chosen)
    assert out.prompt_tokens_computed == len(prefix) + len(chosen) + len(tail)
    assert relative_error(out.prompt_logits[len(prefix):tail_rows], chosen_logits) <= 1e-5
    assert relative_error(out.prompt_logits[tail_rows:], expected) <= 1e-5


def _pages_from(ref: ManualCache, pages: list[tuple], offset: int, count: int) -> list[tuple]:
    """Pages (page, start, length, shift) holding positions offset..offset+count-1 of a contiguous
    run, re-cut so that slot i of the result is position offset + i."""
    slots_per_position = {}
    for page, start, length, _ in pages:
        for j in range(length):
            slots_per_position[start + j] = page * PAGE_SIZE + j
    new = ref.fresh(pages_for(count))
    for k_cache, v_cache in ref.caches:
        k_flat, v_flat = k_cache.flatten(0, 1), v_cache.flatten(0, 1)
        for i in range(count):
            target = new[i // PAGE_SIZE] * PAGE_SIZE + i % PAGE_SIZE
            k_flat[target] = k_flat[slots_per_position[offset + i]]
            v_flat[target] = v_flat[slots_per_position[offset + i]]
    return [(page, offset + PAGE_SIZE * k, min(PAGE_SIZE, count - PAGE_SIZE * k), 0)
            for k, page in enumerate(new)]


def test_blend_under_chunked_prefill_matches_one_shot(make_engine):
    outputs = []
    for budget in (4096, 5):
        engine = make_engine("qwen2", max_num_batched_tokens=budget)
        prefix, segment, tail = tokens_of(engine)
        handle = engine.encode_segment(segment)
        [out] = run_checked(engine, [[prefix, handle.placed(blend=0.3), tail]])
        outputs.append(out)
    one_shot, chunked = outputs
    assert chunked.token_ids == one_shot.token_ids
    assert chunked.prompt_logit_positions == one_shot.prompt_logit_positions
    assert relative_error(chunked.prompt_logits, one_shot.prompt_logits) <= 1e-5


def test_pages_after_a_blended_segment_never_serve_a_plain_placement(make_engine):
    engine = make_engine("qwen2")
    prefix, segment, tail = tokens_of(engine)
    handle = engine.encode_segment(segment)
    long_tail = tail * 4  # full pages after the segment, registered in the prefix cache
    engine.generate([[prefix, handle.placed(blend=0.3), long_tail]], KEEP)
    [naive] = engine.generate([[prefix, handle, long_tail]], KEEP)
    fresh = make_engine("qwen2")
    [expected] = fresh.generate([[prefix, fresh.encode_segment(segment), long_tail]], KEEP)
    assert naive.prompt_tokens_computed >= len(long_tail)  # nothing after the segment was a hit
    assert naive.token_ids == expected.token_ids
    expected_logits = logits_at(expected, naive.prompt_logit_positions)
    assert relative_error(naive.prompt_logits, expected_logits) <= 1e-5


@pytest.mark.parametrize("placement", [
    {}, {"recompute_head": 16}, {"blend": 0.3}, {"blend": 1.0}, {"recompute_head": 16, "blend": 0.5},
])
def test_repairs_never_write_shared_pages_and_balance_pages(placement, make_engine):
    engine = make_engine("qwen2")
    prefix, segment, tail = tokens_of(engine)
    other = engine.tokenizer.encode("x = 1\n" * 5)
    handle = engine.encode_segment(segment, preamble=prefix)
    before = pool_snapshot(engine, handle.page_ids)
    run_checked(engine, [[prefix, handle.placed(**placement), tail],
                         [other, handle.placed(**placement), tail]])
    after = pool_snapshot(engine, handle.page_ids)
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    engine.release_segment(handle)
    stats = engine.stats()
    assert stats.live_segments == 0 and stats.free_pages == stats.num_pages
    engine.block_manager.check_invariants(engine.scheduler.holders())


def test_blended_requests_survive_preemption(make_engine):
    long = SamplingParams(max_tokens=40, ignore_eos=True)
    alone = make_engine("qwen2")
    prefix, segment, tail = tokens_of(alone)
    handle = alone.encode_segment(segment)
    expected = [alone.generate([[p, handle.placed(blend=0.3), tail]], long)[0].token_ids
                for p in (prefix, prefix[:-1])]
    engine = make_engine("qwen2", num_pages=2 * pages_for(len(segment)) + 9)
    handle = engine.encode_segment(segment)
    ids = [engine.add_request([p, handle.placed(blend=0.3), tail], long) for p in (prefix, prefix[:-1])]
    finals = {}
    while engine.has_unfinished():
        finals.update({o.request_id: o for o in engine.step() if o.finished})
        engine.block_manager.check_invariants(engine.scheduler.holders())
    assert engine.stats().num_preemptions > 0
    assert [finals[i].token_ids for i in ids] == expected
