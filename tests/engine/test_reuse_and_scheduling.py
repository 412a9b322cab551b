"""Prefix-cache hits, chunked prefill and preemption by recompute change work done, never output."""

from __future__ import annotations

from codepager.engine.config import SamplingParams
from codepager.engine.sequence import PAGE_SIZE

GREEDY = SamplingParams(max_tokens=24, ignore_eos=True)
REPO = (
    "import os\nfrom pathlib import Path\n\n\ndef read_config(path: str) -> dict:\n"
    '    """Read a JSON config file and return its contents."""\n'
    '    with open(path, encoding="utf-8") as handle:\n        return json.load(handle)\n\n\n'
)


def test_prefix_cache_hit_computes_only_the_tail(make_engine):
    engine = make_engine()
    shared = engine.encode_prompt(REPO)
    first_tail = engine.tokenizer.encode("class Cache:")
    second_tail = engine.tokenizer.encode("def add(a, b):")
    [first] = engine.generate([shared + first_tail], GREEDY)
    assert first.prompt_tokens_computed == len(shared) + len(first_tail)

    [second] = engine.generate([shared + second_tail], GREEDY)
    full_pages = len(shared) // PAGE_SIZE * PAGE_SIZE
    assert second.prompt_tokens_cached == full_pages
    assert second.prompt_tokens_computed == len(shared) + len(second_tail) - full_pages
    [cold] = make_engine().generate([shared + second_tail], GREEDY)
    assert second.token_ids == cold.token_ids


def test_whole_prompt_hit_recomputes_only_the_last_token(make_engine):
    engine = make_engine()
    prompt = (engine.encode_prompt(REPO) * 2)[: 3 * PAGE_SIZE]  # page-aligned
    [first] = engine.generate([prompt], GREEDY)
    [again] = engine.generate([prompt], GREEDY)
    assert again.prompt_tokens_cached == len(prompt)
    assert again.prompt_tokens_computed == 1
    assert again.token_ids == first.token_ids


def test_chunked_prefill_matches_one_shot_prefill(make_engine):
    encode = make_engine().encode_prompt
    prompts = [encode(REPO), encode("class Cache:\n    def get(self")]
    one_shot = make_engine(max_num_batched_tokens=4096).generate(prompts, GREEDY)
    chunked_engine = make_engine(max_num_batched_tokens=7)
    chunked = chunked_engine.generate(prompts, GREEDY)
    assert [o.token_ids for o in chunked] == [o.token_ids for o in one_shot]
    assert chunked_engine.stats().tokens_computed == sum(len(p) + GREEDY.max_tokens - 1 for p in prompts)


def test_preemption_by_recompute_gives_the_same_greedy_output(make_engine):
    encode = make_engine().encode_prompt
    prompts = [encode(text) for text in ("def add(a, b):", "class Cache:", "import os\n")]
    params = SamplingParams(max_tokens=40, ignore_eos=True)
    roomy = make_engine(num_pages=64).generate(prompts, params)
    tight_engine = make_engine(num_pages=6, enable_prefix_caching=False)  # 3 x 3 pages needed at the end
    tight = tight_engine.generate(prompts, params)
    assert tight_engine.stats().num_preemptions > 0
    assert [o.token_ids for o in tight] == [o.token_ids for o in roomy]
    assert tight_engine.stats().free_pages == 6
