"""The fingerprint is stable for the same model and changes with weights, tokenizer and dtype."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from codepager.model import fingerprint, load_model
from codepager.model.fingerprint import weights_digest


@pytest.fixture
def model_copy(tmp_path, tiny_model_dir):
    return shutil.copytree(tiny_model_dir("qwen2"), tmp_path / "m")


def flip_byte(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_stable_across_loads_and_copies(tiny_model_dir, model_copy):
    original = load_model(tiny_model_dir("qwen2")).fingerprint
    assert load_model(model_copy).fingerprint == original
    assert len(original) == 64


def test_changes_with_one_weight_byte(model_copy):
    before = load_model(model_copy).fingerprint
    flip_byte(model_copy / "model.safetensors", -3)
    assert load_model(model_copy).fingerprint != before


def test_changes_with_tokenizer_and_dtype(model_copy):
    before = load_model(model_copy).fingerprint
    assert load_model(model_copy, dtype=torch.float16).fingerprint != before
    data = json.loads((model_copy / "tokenizer.json").read_text())
    data["added_tokens"][0]["content"] = "<|eos|>"
    (model_copy / "tokenizer.json").write_text(json.dumps(data))
    assert load_model(model_copy).fingerprint != before


def test_sampled_digest_for_large_checkpoints_sees_header_and_samples(model_copy, monkeypatch):
    weights = model_copy / "model.safetensors"
    full = weights_digest([weights])
    monkeypatch.setattr(fingerprint, "FULL_HASH_LIMIT", 0)
    monkeypatch.setattr(fingerprint, "SAMPLE_BYTES", 1024)
    sampled = weights_digest([weights])
    assert sampled != full and sampled == weights_digest([weights])
    flip_byte(weights, 20)  # inside the JSON header
    after_header = weights_digest([weights])
    assert after_header != sampled
    flip_byte(weights, -1)  # the last sample ends at the end of the file
    assert weights_digest([weights]) != after_header
