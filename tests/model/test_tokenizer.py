"""Tokenizer over tokenizer.json with special tokens from the tokenizer and generation configs."""

from __future__ import annotations

import json
import shutil

import pytest

from codepager.errors import ModelLoadError
from codepager.model.testing import SPECIAL_TOKENS
from codepager.model.tokenizer import Tokenizer


@pytest.fixture
def model_copy(tmp_path, tiny_model_dir):
    return shutil.copytree(tiny_model_dir("qwen2"), tmp_path / "m")


def test_round_trip_without_added_bos_or_eos(tiny_model_dir):
    tokenizer = Tokenizer.from_dir(tiny_model_dir("llama"))
    text = "def f(x):\n    return x  # ünïcode ✓\n"
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert tokenizer.bos_token_id == tokenizer.token_id("<|begin_of_text|>")
    assert tokenizer.bos_token_id not in ids and not tokenizer.eos_token_ids & set(ids)
    assert not tokenizer.add_bos


def test_special_tokens_map_and_encode_as_one_id(tiny_model_dir):
    tokenizer = Tokenizer.from_dir(tiny_model_dir("qwen2"))
    assert set(SPECIAL_TOKENS) <= set(tokenizer.special_tokens)
    fim = tokenizer.special_tokens["<|fim_prefix|>"]
    assert tokenizer.token_id("<|fim_prefix|>") == fim
    ids = tokenizer.encode("<|fim_prefix|>x = 1<|fim_suffix|>")
    assert ids[0] == fim and ids[-1] == tokenizer.special_tokens["<|fim_suffix|>"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "x = 1"
    assert tokenizer.bos_token_id is None
    assert tokenizer.eos_token_ids == {tokenizer.special_tokens["<|endoftext|>"]}
    assert tokenizer.vocab_size == 320
    assert tokenizer.token_id("<|no such token|>") is None


def test_eos_ids_join_generation_list_and_tokenizer_config_dict(model_copy):
    im_end = Tokenizer.from_dir(model_copy).special_tokens["<|im_end|>"]
    (model_copy / "generation_config.json").write_text(json.dumps({"eos_token_id": [im_end, 3]}))
    config = json.loads((model_copy / "tokenizer_config.json").read_text())
    config["eos_token"] = {"content": "<|endoftext|>", "lstrip": False}
    (model_copy / "tokenizer_config.json").write_text(json.dumps(config))
    tokenizer = Tokenizer.from_dir(model_copy)
    assert tokenizer.eos_token_ids == {im_end, 3, tokenizer.special_tokens["<|endoftext|>"]}


def test_bos_from_post_processor(model_copy):
    data = json.loads((model_copy / "tokenizer.json").read_text())
    bos_id = next(t["id"] for t in data["added_tokens"] if t["content"] == "<|begin_of_text|>")
    data["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                   {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [bos_id],
                                                 "tokens": ["<|begin_of_text|>"]}},
    }
    (model_copy / "tokenizer.json").write_text(json.dumps(data))
    config = json.loads((model_copy / "tokenizer_config.json").read_text())
    config["bos_token"] = "<|begin_of_text|>"
    (model_copy / "tokenizer_config.json").write_text(json.dumps(config))
    tokenizer = Tokenizer.from_dir(model_copy)
    assert tokenizer.bos_token_id == bos_id and tokenizer.add_bos
    assert bos_id not in tokenizer.encode("hello")


def test_digest_covers_tokenizer_config(model_copy):
    before = Tokenizer.from_dir(model_copy).digest
    config = json.loads((model_copy / "tokenizer_config.json").read_text())
    (model_copy / "tokenizer_config.json").write_text(json.dumps({**config, "eos_token": "<|im_end|>"}))
    assert Tokenizer.from_dir(model_copy).digest != before


def test_corrupt_tokenizer_json(model_copy):
    (model_copy / "tokenizer.json").write_text('{"model": 1}')
    with pytest.raises(ModelLoadError, match="cannot parse .*tokenizer.json") as info:
        Tokenizer.from_dir(model_copy)
    assert "\n" not in str(info.value)
