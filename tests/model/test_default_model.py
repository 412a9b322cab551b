"""The shipped default model: transformers and codepager load it and agree; its tokenizer is complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import codepager
from codepager.model import load_model

from .paged_inputs import PagedBatch, run_paged

DEFAULT_DIR = Path(codepager.__file__).parent / "default_model"
SPECIAL_TOKENS = ("<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
                  "<|repo_name|>", "<|file_sep|>")
PROMPT = (
    "<|repo_name|>demo\n<|file_sep|>demo/util.py\ndef parse(text: str) -> list[str]: ...\n"
    "<|file_sep|>demo/main.py\n<|fim_prefix|>from demo.util import parse\n\n\ndef run(path):\n"
    "    with open(path) as handle:\n        <|fim_suffix|>\n    return items\n<|fim_middle|>"
)
CODE_SAMPLES = (
    "def add(a, b):\n    return a + b\n",
    'class Café:\n\t"""Ünïcödé — ☕"""\r\n    x = {"k": [1, 2.5e-3, 0x1F]}  # comment\n',
    "    \n\n\n  trailing spaces   \nlambda: None",
)


@pytest.fixture(scope="module")
def ours():
    return load_model(DEFAULT_DIR, dtype=torch.float32)


def test_transformers_llama_logits_match_codepager(ours):
    from transformers import LlamaForCausalLM

    hf = LlamaForCausalLM.from_pretrained(DEFAULT_DIR, dtype=torch.float32).eval()
    assert hf.config.tie_word_embeddings and hf.config.num_key_value_heads < hf.config.num_attention_heads
    ids = ours.tokenizer.encode(PROMPT)
    assert 40 < len(ids) < 200
    (logits,) = run_paged(ours.model, PagedBatch(num_seqs=1, max_pages=16), ours.model.allocate_kv_caches(16),
                          [ids])
    with torch.no_grad():
        ref = hf(torch.tensor([ids])).logits[0]
    assert ((logits - ref).abs().max() / ref.abs().max()).item() <= 1e-4


def test_tokenizer_has_every_special_token_as_one_id(ours):
    ids = [ours.tokenizer.token_id(t) for t in SPECIAL_TOKENS]
    assert None not in ids and len(set(ids)) == len(SPECIAL_TOKENS)
    for token, token_id in zip(SPECIAL_TOKENS, ids, strict=True):
        assert ours.tokenizer.encode(f"x{token}y")[1] == token_id
    config = json.loads((DEFAULT_DIR / "tokenizer_config.json").read_text())
    assert config["eos_token"] == "<|endoftext|>"


def test_transformers_tokenizer_agrees(ours):
    from transformers import AutoTokenizer

    hf_tok = AutoTokenizer.from_pretrained(DEFAULT_DIR)
    assert hf_tok.eos_token_id == ours.tokenizer.token_id("<|endoftext|>")
    assert hf_tok(PROMPT)["input_ids"] == ours.tokenizer.encode(PROMPT)


@pytest.mark.parametrize("text", CODE_SAMPLES)
def test_tokenizer_round_trips_code(ours, text):
    assert ours.tokenizer.decode(ours.tokenizer.encode(text)) == text


def test_shipped_files_fit_the_size_limits():
    files = [p for p in DEFAULT_DIR.iterdir() if p.is_file()]
    names = {p.name for p in files}
    required = {"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json", "NOTICE"}
    assert required <= names
    assert sum(p.stat().st_size for p in files) < 45 * 2**20
    assert all(p.stat().st_size < 15 * 2**20 for p in files)
    config = json.loads((DEFAULT_DIR / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["vocab_size"] <= 8192 + 64
