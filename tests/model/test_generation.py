"""Greedy decoding through paged prefill + decode steps equals transformers' greedy generate."""

from __future__ import annotations

import pytest
import torch

from codepager.model import load_model

from .paged_inputs import PagedBatch, run_paged

NEW_TOKENS = 32


@pytest.mark.parametrize("variant", ["qwen2", "qwen3-tied"])
def test_greedy_tokens_match_transformers_generate(tiny_model_dir, variant):
    import transformers

    path = tiny_model_dir(variant)
    ours = load_model(path)
    hf = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    prompts = [ours.tokenizer.encode(text) for text in ("class Cache:\n    def get(self, key):\n", "for (")]

    batch = PagedBatch(num_seqs=len(prompts), max_pages=8)
    kv = ours.model.allocate_kv_caches(16)
    last = [logits[-1] for logits in run_paged(ours.model, batch, kv, prompts)]
    generated: list[list[int]] = [[] for _ in prompts]
    for _ in range(NEW_TOKENS):
        step = [[int(logits.argmax())] for logits in last]
        for seq, (token,) in enumerate(step):
            generated[seq].append(token)
        last = [logits[-1] for logits in run_paged(ours.model, batch, kv, step)]

    for prompt, tokens in zip(prompts, generated, strict=True):
        with torch.no_grad():
            out = hf.generate(
                torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False,
                eos_token_id=None, pad_token_id=0,
            )
        assert out[0, len(prompt):].tolist() == tokens


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_greedy_tokens_are_the_argmax_of_the_logits(tiny_model_dir, dtype):
    model = load_model(tiny_model_dir("qwen3-tied"), dtype=dtype).model
    hidden = torch.randn(5, model.config.hidden_size, generator=torch.Generator().manual_seed(3)).to(dtype)
    expected = model.compute_logits(hidden).argmax(dim=-1)
    assert torch.equal(model.greedy_tokens(hidden), expected)
    out = torch.full((2, 5), -1, dtype=torch.int64)
    model.greedy_tokens(hidden, out=out[1])  # into a view: how a captured decode graph writes its ids
    assert torch.equal(out[1], expected) and (out[0] == -1).all()


def test_a_cached_rope_table_gives_the_same_hidden_states(tiny_model_dir):
    loaded = load_model(tiny_model_dir("qwen2-rope-yarn"))
    prompt = loaded.tokenizer.encode("def area(radius):\n    return 3.14 * radius")
    plain = run_paged(loaded.model, PagedBatch(num_seqs=1, max_pages=8), loaded.model.allocate_kv_caches(16),
                      [prompt])[0]
    loaded.model.cache_rope(64)
    loaded.model.cache_rope(32)  # never shrinks
    assert loaded.model.rope_table[0].shape == (64, loaded.config.head_dim)
    cached = run_paged(loaded.model, PagedBatch(num_seqs=1, max_pages=8), loaded.model.allocate_kv_caches(16),
                       [prompt])[0]
    assert torch.equal(plain, cached)
