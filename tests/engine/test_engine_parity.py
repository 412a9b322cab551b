"""The paged engine against transformers on tiny random Llama / Qwen2 / Qwen3 checkpoints (fp32)."""

from __future__ import annotations

import pytest
import torch

from codepager.engine.config import SamplingParams

from .conftest import MODEL_TYPES

PROMPTS = [
    "def read_config(path: str) -> dict:",
    "class Cache:\n    def __init__(self, capacity: int = 16) -> None:\n        self.capacity = capacity\n"
    "        self.items = {}\n\n    def get(self, key):\n        return self.items",
    "x",
    "function add(a, b) { return a + b; }\nfor (let i = 0; i < 10; i++) {",
]


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual - expected).norm() / expected.norm())


def hf_logits(hf, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return hf(torch.tensor([ids])).logits[0].float()


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_ragged_batch_prompt_logits_match_transformers(model_type, make_engine, hf_model):
    engine = make_engine(model_type, max_num_batched_tokens=4096)
    ids = [engine.encode_prompt(p) for p in PROMPTS]
    assert len({len(i) for i in ids}) == len(ids), "prompts should be ragged"
    params = SamplingParams(max_tokens=1, keep_prompt_logits=True)
    outputs = engine.generate([list(i) for i in ids], params)
    assert engine.stats().tokens_computed == sum(len(i) for i in ids)  # one forward pass, all prompts
    for prompt_ids, out in zip(ids, outputs, strict=True):
        assert out.prompt_logit_positions == list(range(len(prompt_ids)))
        assert relative_error(out.prompt_logits, hf_logits(hf_model(model_type), prompt_ids)) <= 1e-4


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_single_prompt_logits_match_transformers(model_type, make_engine, hf_model):
    engine = make_engine(model_type)
    prompt_ids = engine.encode_prompt(PROMPTS[1])
    [out] = engine.generate([prompt_ids], SamplingParams(max_tokens=1, keep_prompt_logits=True))
    assert relative_error(out.prompt_logits, hf_logits(hf_model(model_type), prompt_ids)) <= 1e-4


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_greedy_generation_is_token_identical_to_transformers(model_type, make_engine, hf_model):
    engine = make_engine(model_type)
    prompts = [engine.encode_prompt(p) for p in PROMPTS[:2]]
    outputs = engine.generate(prompts, SamplingParams(max_tokens=32, ignore_eos=True))
    hf = hf_model(model_type)
    for prompt_ids, out in zip(prompts, outputs, strict=True):
        with torch.no_grad():
            expected = hf.generate(torch.tensor([prompt_ids]), max_new_tokens=32, min_new_tokens=32,
                                   do_sample=False, eos_token_id=None, pad_token_id=0)
        assert out.token_ids == expected[0, len(prompt_ids):].tolist()
        assert out.finish_reason == "length"
