"""Decode bursts (several greedy decode steps per host round trip) give exactly what one step at a
time gives: the same tokens, stops, counters and prefix cache, with pages balanced throughout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from codepager.engine.config import EngineConfig, SamplingParams
from codepager.engine.cuda_graphs import batch_bucket, pages_bucket
from codepager.engine.decode_burst import decode_follows
from codepager.engine.scheduler import ScheduledChunk
from codepager.engine.sequence import Sequence
from codepager.errors import ConfigError

from .test_requests import first_clean_substring

PROMPTS = [
    "def read_config(path: str) -> dict:",
    "x",
    "class Cache:\n    def __init__(self, capacity: int = 16) -> None:\n        self.capacity = capacity\n",
    "for (let i = 0;",
]
MAX_TOKENS = [37, 9, 22, 14]  # finish in different steps of a burst for every K below


@pytest.fixture(params=[0, 1, 3], ids=["no-burst-ahead", "1-step-ahead", "3-steps-ahead"])
def make_engine(make_engine, request):
    """Every test runs without bursts launched ahead and with 1- and 3-step ones (decode_burst.py)."""

    def make(**settings):
        settings.setdefault("decode_ahead", request.param)
        return make_engine(**settings)

    return make


def greedy(max_tokens: int, **settings) -> SamplingParams:
    return SamplingParams(max_tokens=max_tokens, ignore_eos=True, **settings)


def run(engine, requests) -> dict[str, list]:
    """Add (prompt, params) requests, step to the end checking page invariants after every step;
    every output of each request in order."""
    ids = [engine.add_request(prompt, params) for prompt, params in requests]
    outputs: dict[str, list] = {i: [] for i in ids}
    while engine.has_unfinished():
        for out in engine.step():
            outputs[out.request_id].append(out)
        engine.block_manager.check_invariants(engine.scheduler.holders())
    return [outputs[i] for i in ids]


def finals(engine, requests) -> list[tuple]:
    return [(o[-1].token_ids, o[-1].text, o[-1].finish_reason) for o in run(engine, requests)]


@pytest.mark.parametrize("burst", [2, 3, 4, 8])
def test_bursts_are_token_identical_to_single_steps(make_engine, burst):
    requests = [(p, greedy(m)) for p, m in zip(PROMPTS, MAX_TOKENS, strict=True)]
    one, many = make_engine(decode_burst=1), make_engine(decode_burst=burst)
    assert finals(many, requests[:1]) == finals(one, requests[:1])
    assert finals(many, requests) == finals(one, requests)
    assert many.stats().decode_bursts > 0 and one.stats().decode_bursts == 0
    assert (many.stats().decode_bursts_ahead > 0) == (many.decode_ahead > 0)
    a, b = one.stats(), many.stats()
    assert (a.tokens_computed, a.prefix_cache_hit_tokens) == (b.tokens_computed, b.prefix_cache_hit_tokens)
    assert b.free_pages == b.num_pages


def test_a_burst_yields_its_tokens_in_one_output_and_never_overshoots(make_engine):
    engine = make_engine(decode_burst=4)
    [outputs] = run(engine, [(PROMPTS[0], greedy(7))])
    # prefill samples token 1; the bursts then give 4 and 2 (clipped to max_tokens, not 4) — or,
    # when bursts of `ahead` steps are launched ahead, 4 and then bursts of that many (on CPU no
    # burst is launched behind the prefill: only a captured CUDA graph launches for free)
    ahead = engine.decode_ahead or 4
    tail = [min(ahead, 2 - done) for done in range(0, 2, ahead)]
    assert [len(o.new_token_ids) for o in outputs] == [1, 4, *tail]
    # every burst launched ahead was used, the last one of 1 step too
    assert engine.stats().decode_bursts_ahead == (len(tail) if engine.decode_ahead else 0)
    assert len(outputs[-1].token_ids) == 7 and outputs[-1].finish_reason == "length"
    assert engine.stats().tokens_computed == len(engine.encode_prompt(PROMPTS[0])) + 6


def test_bursts_stop_at_the_model_length(make_engine):
    one, many = make_engine(decode_burst=1, max_model_len=40), make_engine(decode_burst=8, max_model_len=40)
    prompt = (one.encode_prompt(PROMPTS[2]) * 2)[:30]
    assert finals(many, [(prompt, greedy(64))]) == finals(one, [(prompt, greedy(64))])
    assert many.stats().tokens_computed == one.stats().tokens_computed
    assert many.stats().decode_bursts > 0


def mid_burst_index(token_ids: list[int], burst: int) -> int:
    """Index of a token that first occurs there and is sampled by a step of a burst before its last
    (token i >= 1 is sampled by step (i - 1) % burst of a burst)."""
    for i in range(2, len(token_ids)):
        if token_ids.index(token_ids[i]) == i and (i - 1) % burst < burst - 1:
            return i
    raise AssertionError("no token suitable for a stop mid-burst")


def test_stop_token_mid_burst_ends_the_output_there(make_engine):
    one, many = make_engine(decode_burst=1), make_engine(decode_burst=4)
    [free] = make_engine(decode_burst=1).generate([PROMPTS[2]], greedy(24))
    cut = mid_burst_index(free.token_ids, 4)
    params = SamplingParams(max_tokens=24, stop_token_ids=[free.token_ids[cut]])
    other = greedy(24)  # a batch neighbour that goes on after the stop
    expected = finals(one, [(PROMPTS[2], params), (PROMPTS[0], other)])
    got = finals(many, [(PROMPTS[2], params), (PROMPTS[0], other)])
    assert got == expected
    assert got[0][0] == free.token_ids[:cut + 1] and got[0][2] == "stop"
    assert many.stats().tokens_computed == one.stats().tokens_computed


def test_stop_string_mid_burst_ends_the_output_there(make_engine):
    one, many = make_engine(decode_burst=1), make_engine(decode_burst=8)
    [free] = make_engine(decode_burst=1).generate([PROMPTS[0]], greedy(24))
    index, stop = first_clean_substring(free.text, 2, start=4)
    params = greedy(24, stop=[stop])
    expected = finals(one, [(PROMPTS[0], params), (PROMPTS[1], greedy(30))])
    outputs = run(many, [(PROMPTS[0], params), (PROMPTS[1], greedy(30))])
    got = [(o[-1].token_ids, o[-1].text, o[-1].finish_reason) for o in outputs]
    assert got == expected
    assert got[0][1] == free.text[:index] and got[0][2] == "stop" and len(got[0][0]) < 24
    stopped = outputs[0]
    assert "".join(o.new_text for o in stopped) == stopped[-1].text
    assert sum((o.new_token_ids for o in stopped), []) == stopped[-1].token_ids
    assert many.stats().tokens_computed == one.stats().tokens_computed


def test_a_burst_crossing_page_boundaries(make_engine):
    one, many = make_engine(decode_burst=1), make_engine(decode_burst=8)
    prompt = one.encode_prompt(PROMPTS[2])
    prompt = prompt[:16 * (len(prompt) // 16) - 3]  # 3 slots left in the last page
    requests = [(prompt, greedy(40)), (PROMPTS[1], greedy(33))]
    assert finals(many, requests) == finals(one, requests)
    assert many.stats().free_pages == many.stats().num_pages


def test_a_request_added_while_others_decode_is_admitted_at_the_next_step(make_engine):
    engine = make_engine(decode_burst=8)
    engine.add_request(PROMPTS[0], greedy(64))
    engine.step()
    engine.step()
    assert engine.stats().decode_bursts == 1
    late = engine.add_request(PROMPTS[3], greedy(10))
    outputs = engine.step()
    assert engine.stats().decode_bursts == 1 and not engine.scheduler.waiting
    [late_out] = [o for o in outputs if o.request_id == late]
    assert len(late_out.new_token_ids) == 1  # prefilled and sampled in the step after it was added
    final = None
    while engine.has_unfinished():
        final = next((o for o in engine.step() if o.request_id == late and o.finished), final)
    assert final is not None
    [alone] = make_engine(decode_burst=1).generate([PROMPTS[3]], greedy(10))
    assert final.token_ids == alone.token_ids and late_out.token_ids == alone.token_ids[:1]


def test_sampling_requests_and_kept_prompt_logits_never_burst(make_engine):
    sampled = SamplingParams(max_tokens=12, temperature=1.2, seed=5, ignore_eos=True)
    one, many = make_engine(decode_burst=1), make_engine(decode_burst=4)
    assert finals(many, [(PROMPTS[0], sampled)]) == finals(one, [(PROMPTS[0], sampled)])
    finals(many, [(PROMPTS[1], sampled), (PROMPTS[0], greedy(12))])  # one sampling row: no burst
    finals(many, [(PROMPTS[1], greedy(12, keep_prompt_logits=True))])
    assert many.stats().decode_bursts == 0
    finals(many, [(PROMPTS[1], greedy(12))])
    assert many.stats().decode_bursts > 0


def test_prefix_cache_is_not_poisoned_by_dropped_tokens(make_engine):
    """A request stopped mid-burst wrote KV for tokens after its stop into its last pages; a later
    request sharing its prefix must compute what it computes without bursts."""
    results = {}
    for burst in (1, 8):
        engine = make_engine(decode_burst=burst)
        prompt = engine.encode_prompt(PROMPTS[2])
        [free] = make_engine(decode_burst=1).generate([prompt], greedy(40))
        # stop just before a page boundary, so the dropped tokens fill that page and the next
        cut = next(i for i in range(2, 40) if (len(prompt) + i + 1) % 16 == 14
                   and free.token_ids.index(free.token_ids[i]) == i)
        params = SamplingParams(max_tokens=40, stop_token_ids=[free.token_ids[cut]])
        [stopped] = engine.generate([prompt], params)
        assert stopped.token_ids == free.token_ids[:cut + 1]
        follow = prompt + free.token_ids[:cut + 1] + free.token_ids[cut + 1:cut + 20]
        [again] = engine.generate([follow], greedy(20))
        assert again.prompt_tokens_cached >= 16 * ((len(prompt) + cut) // 16)
        results[burst] = (again.token_ids, again.prompt_tokens_cached, engine.stats().tokens_computed)
        engine.block_manager.check_invariants(engine.scheduler.holders())
    assert results[8] == results[1]


def test_cancels_between_bursts_keep_pages_balanced(make_engine):
    engine = make_engine(decode_burst=4, num_pages=24)
    ids = [engine.add_request(p, greedy(m)) for p, m in zip(PROMPTS, [60, 50, 40, 30], strict=True)]
    steps = 0
    while engine.has_unfinished():
        engine.step()
        steps += 1
        if steps in (3, 5, 6):  # cancel right after a burst, some mid-way through their budget
            engine.cancel(ids[steps % len(ids)])
        engine.block_manager.check_invariants(engine.scheduler.holders())
    assert engine.stats().decode_bursts > 0
    assert engine.stats().free_pages == engine.stats().num_pages
    stream = engine.stream(PROMPTS[0], greedy(40))
    seen = [next(stream), next(stream)]  # prefill, then one burst's 4 tokens
    stream.close()
    assert [len(o.new_token_ids) for o in seen] == [1, 4]
    engine.block_manager.check_invariants(engine.scheduler.holders())
    assert engine.stats().free_pages == engine.stats().num_pages and not engine.has_unfinished()


def test_short_of_pages_a_burst_shrinks_instead_of_preempting(make_engine):
    one, tight = make_engine(decode_burst=1, num_pages=4), make_engine(decode_burst=8, num_pages=4)
    requests = [(PROMPTS[0], greedy(30)), (PROMPTS[1], greedy(30))]
    assert finals(tight, requests) == finals(one, requests)
    assert tight.stats().decode_bursts > 0 and one.stats().num_preemptions > 0
    assert tight.stats().num_preemptions == one.stats().num_preemptions


def staged_rows(plan, step: int, batch: int, pages: int) -> tuple[np.ndarray, np.ndarray]:
    tokens, arrays = np.empty((3, batch), np.int64), np.empty((4, batch, pages), np.int32)
    plan.stage(step, tokens, arrays)
    return tokens, arrays


def test_staged_burst_steps_equal_prepare_of_the_same_steps(make_engine):
    """Every step of a burst is staged as ModelRunner.prepare stages that step when it runs alone,
    also padded to a CUDA graph's shape (padding rows store nothing and see no keys)."""
    one, many = make_engine(decode_burst=1), make_engine(decode_burst=4)
    rows: dict[str, dict[tuple[str, int], tuple]] = {"one": {}, "many": {}}
    forward = one.runner.forward

    def record_prepare(chunks):
        if all(len(c.positions) == 1 and c.start >= c.seq.num_prompt_tokens for c in chunks):
            ids, positions, meta = one.runner.prepare(chunks)
            for row, chunk in enumerate(chunks):
                width = len(chunk.seq.block_table)
                rows["one"][chunk.seq.request_id, int(positions[row])] = (
                    int(meta.slot_mapping[row]) % 16, meta.page_starts[row, :width].tolist(),
                    meta.page_lens[row, :width].tolist())
        return forward(chunks)

    plan_of = many.runner.burst_planner.plan

    def record_plan(seqs, steps, ahead=0):
        plan = plan_of(seqs, steps, ahead)
        n, width = plan.batch, plan.width
        for step in range(steps):
            tokens, arrays = staged_rows(plan, step, n, width)
            padded_tokens, padded = staged_rows(plan, step, batch_bucket(n), pages_bucket(width))
            assert np.array_equal(padded_tokens[:, :n], tokens)
            assert np.array_equal(padded[:, :n, :width], arrays)
            assert (padded_tokens[2, n:] == -1).all() and (padded[2, n:] == 0).all()
            assert (padded[2, :, width:] == 0).all()
            for row, seq in enumerate(seqs):
                position = int(tokens[1, row])
                assert tokens[0, row] == (seq.token_ids[-1] if step == 0 and not ahead else 0)
                page = (position - seq.spans[-1].start) // 16 + seq.spans[-1].first_page
                assert tokens[2, row] // 16 == seq.block_table[page]
                count = seq.num_pages(position + 1)
                assert (arrays[2, row, count:] == 0).all()  # reserved pages ahead: no keys yet
                rows["many"][seq.request_id, position] = (
                    int(tokens[2, row]) % 16, arrays[1, row, :count].tolist(),
                    arrays[2, row, :count].tolist())
        return plan

    one.runner.forward = record_prepare
    many.runner.burst_planner.plan = record_plan
    segment = one.encode_segment(one.tokenizer.encode("def get(self, key):\n    return self.items"))
    segment_many = many.encode_segment(many.tokenizer.encode("def get(self, key):\n    return self.items"))
    for engine, handle in ((one, segment), (many, segment_many)):
        prompts = [[engine.encode_prompt("x = 1\n"), handle, engine.tokenizer.encode("\ny = get(")],
                   PROMPTS[0], PROMPTS[2]]
        finals(engine, [(p, greedy(m)) for p, m in zip(prompts, (30, 21, 17), strict=True)])
    request_ids = {rid for rid, _ in rows["many"]}
    assert len(request_ids) == 3 and len(rows["many"]) > 40
    for key, staged in rows["many"].items():
        assert staged == rows["one"][key], key


def test_a_burst_ahead_is_dropped_when_the_batch_changes(make_engine):
    """A request arriving while a burst runs ahead: the engine admits it and recomputes instead of
    using the burst; outputs are those of one step at a time."""
    one, many = make_engine(decode_burst=1), make_engine(decode_burst=4, decode_ahead=2)
    results = []
    for engine in (one, many):
        first = engine.add_request(PROMPTS[0], greedy(30))
        outputs: dict[str, list] = {first: []}
        for _ in range(3):  # prefill, then bursts (the second one launched ahead)
            for out in engine.step():
                outputs[out.request_id].append(out)
        second = engine.add_request(PROMPTS[2], greedy(12))
        outputs[second] = []
        while engine.has_unfinished():
            for out in engine.step():
                outputs[out.request_id].append(out)
            engine.block_manager.check_invariants(engine.scheduler.holders())
        results.append([(o[-1].token_ids, o[-1].finish_reason) for o in outputs.values()])
    assert results[1] == results[0]
    assert many.stats().decode_bursts_ahead > 0 and many.stats().free_pages == many.stats().num_pages


def test_decode_burst_setting():
    assert EngineConfig().decode_burst_for("cpu") == 1 and EngineConfig().decode_burst_for("cuda") == 4
    assert EngineConfig().decode_ahead == 2 and EngineConfig(decode_ahead=3).decode_ahead == 3
    for bad in (-1, True, 1.5):
        with pytest.raises(ConfigError, match="decode_ahead"):
            EngineConfig(decode_ahead=bad)
    assert EngineConfig(decode_burst=6).decode_burst_for("cpu") == 6
    with pytest.raises(ConfigError, match="decode_burst"):
        EngineConfig(decode_burst=0)


def test_decode_kernels_setting():
    cpu = torch.device("cpu")
    assert EngineConfig().decode_kernels_for(cpu) == "cublas"  # no PDL off a CUDA device
    assert EngineConfig(decode_kernels="triton").decode_kernels_for(cpu) == "triton"
    with pytest.raises(ConfigError, match="decode_kernels must be one of cublas, triton, triton_pdl"):
        EngineConfig(decode_kernels="megakernel")


def test_a_burst_follows_a_step_only_of_every_running_greedy_sequence():
    def chunk(params, *, sampling=True):
        seq = Sequence([list(range(40))], params, "r")
        return ScheduledChunk(seq, 30, 40 if sampling else 36)

    greedy_chunks = [chunk(greedy(9)), chunk(greedy(9))]
    settings = dict(running=2, waiting=False, ahead=2, max_steps=4)
    assert decode_follows(greedy_chunks, **settings)
    assert not decode_follows(greedy_chunks, **dict(settings, running=3))  # another runs: dropped later
    assert not decode_follows(greedy_chunks, **dict(settings, waiting=True))
    assert not decode_follows(greedy_chunks, **dict(settings, ahead=0))
    assert not decode_follows(greedy_chunks, **dict(settings, max_steps=1))
    assert not decode_follows([greedy_chunks[0], chunk(greedy(9), sampling=False)], **settings)  # mid-prompt
    sampled = SamplingParams(max_tokens=9, temperature=0.8)
    assert not decode_follows([greedy_chunks[0], chunk(sampled)], **settings)
    kept = SamplingParams(max_tokens=9, temperature=0.0, keep_prompt_logits=True)
    assert not decode_follows([greedy_chunks[0], chunk(kept)], **settings)
