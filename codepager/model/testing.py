"""Tiny randomly initialised Hugging Face model directories for tests (ours and other packages').

`transformers` is a dev dependency only, so it is imported inside the function.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|begin_of_text|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<|im_start|>",
    "<|im_end|>",
)

_CORPUS = '''
import os
from pathlib import Path


def read_config(path: str) -> dict:
    """Read a JSON config file and return its contents."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class Cache:
    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self.items = {}

    def get(self, key):
        return self.items.get(key)

    def put(self, key, value):
        if len(self.items) >= self.capacity:
            self.items.pop(next(iter(self.items)))
        self.items[key] = value


function add(a, b) { return a + b; }
for (let i = 0; i < 10; i++) { console.log(i); }
fn main() { let x = vec![1, 2, 3]; println!("{:?}", x); }
func Hello(name string) string { return "hello " + name }
'''

_ARCHITECTURES = {"llama": "LlamaConfig", "qwen2": "Qwen2Config", "qwen3": "Qwen3Config"}


def make_tiny_tokenizer_json(merges_vocab_size: int = 320) -> str:
    """A byte-level BPE (covers any text) trained on a small code corpus, with FIM/chat specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=merges_vocab_size, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tokenizer.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    return tokenizer.to_str()


def make_tiny_model_dir(
    path: str | os.PathLike, model_type: str = "qwen2", *, seed: int = 0,
    max_shard_size: str | None = None, **overrides: Any,
) -> Path:
    """Write a tiny random `model_type` checkpoint (config, safetensors, tokenizer files) to `path`.

    Defaults: 2 layers, hidden 64, 4 query / 2 KV heads of dim 16, vocab = tokenizer size.
    `overrides` go to the transformers config (e.g. tie_word_embeddings=True, rope_scaling={...},
    num_hidden_layers=3). Every weight, norm and bias is random (norms around 1, biases nonzero)
    so that a missing term shows up in a parity test. `max_shard_size` (e.g. "20KB") shards.
    """
    import torch
    import transformers

    if model_type not in _ARCHITECTURES:
        raise ValueError(f"unknown tiny model type {model_type!r}; expected one of {sorted(_ARCHITECTURES)}")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer_json = make_tiny_tokenizer_json()
    vocab = json.loads(tokenizer_json)
    special_ids = {t["content"]: t["id"] for t in vocab["added_tokens"]}
    tokenizer_size = len(vocab["model"]["vocab"])

    eos_id = special_ids["<|endoftext|>"]
    bos_id = special_ids["<|begin_of_text|>"] if model_type == "llama" else None
    settings: dict[str, Any] = dict(
        vocab_size=tokenizer_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=2048,
        rms_norm_eps=1e-6, tie_word_embeddings=False, bos_token_id=bos_id, eos_token_id=eos_id,
        pad_token_id=None,
    )
    settings.update(overrides)
    config = getattr(transformers, _ARCHITECTURES[model_type])(**settings)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    _randomise(model, torch.Generator().manual_seed(seed))
    model.generation_config.eos_token_id = eos_id
    model.generation_config.bos_token_id = bos_id
    save_kwargs: dict[str, Any] = {"safe_serialization": True}
    if max_shard_size is not None:
        save_kwargs["max_shard_size"] = max_shard_size
    model.save_pretrained(out, **save_kwargs)

    (out / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
    tokenizer_config = {
        "bos_token": "<|begin_of_text|>" if bos_id is not None else None,
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "model_max_length": settings["max_position_embeddings"],
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")
    return out


def _randomise(model: Any, generator: Any) -> None:
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.1 * noise)
            elif name.endswith(".bias"):
                param.copy_(0.1 * noise)
            else:
                param.copy_(noise / param.shape[-1] ** 0.5)
