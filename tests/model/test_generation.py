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
