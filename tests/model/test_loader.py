"""load_model: dtypes, tied embeddings, shards, and one clear error per kind of broken directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from codepager.errors import ModelLoadError
from codepager.model import load_model


@pytest.fixture
def broken(tmp_path, tiny_model_dir):
    """broken(variant) -> a private copy of a tiny checkpoint the test may damage."""

    def copy(variant: str = "qwen2") -> Path:
        return Path(shutil.copytree(tiny_model_dir(variant), tmp_path / variant))

    return copy


def test_tied_embeddings_share_one_tensor(tiny_model_dir):
    loaded = load_model(tiny_model_dir("llama-tied-sharded"))
    assert loaded.model.lm_head.weight is loaded.model.model.embed_tokens.weight
    assert len(list(loaded.path.glob("*.safetensors"))) > 1


def test_dtype_defaults_to_float32_on_cpu_and_converts_on_request(tiny_model_dir):
    path = tiny_model_dir("qwen2")
    fp32 = load_model(path)
    bf16 = load_model(path, dtype=torch.bfloat16)
    assert fp32.model.lm_head.weight.dtype == torch.float32
    assert bf16.model.model.layers[0].self_attn.qkv_proj.bias.dtype == torch.bfloat16
    assert bf16.model.rope_inv_freq.dtype == torch.float32
    assert not any(p.requires_grad for p in bf16.model.parameters())
    assert fp32.fingerprint != bf16.fingerprint


def error_of(path) -> str:
    with pytest.raises(ModelLoadError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_directory(tmp_path):
    assert "model directory not found" in error_of(tmp_path / "nope")


def test_missing_config(broken):
    path = broken()
    (path / "config.json").unlink()
    assert "missing config.json" in error_of(path)


def test_corrupt_config(broken):
    path = broken()
    (path / "config.json").write_text("{not json")
    assert "cannot read" in error_of(path) and "config.json" in error_of(path)


def test_unknown_model_type(broken):
    path = broken()
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "model_type": "mamba"}))
    assert "unsupported model_type 'mamba'" in error_of(path)


def test_missing_tokenizer(broken):
    path = broken()
    (path / "tokenizer.json").unlink()
    assert "missing tokenizer.json" in error_of(path)


def test_missing_weights(broken):
    path = broken()
    (path / "model.safetensors").unlink()
    assert "no *.safetensors weights" in error_of(path)


def test_truncated_weights(broken):
    path = broken()
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert "corrupt or truncated weights file model.safetensors" in error_of(path)


def test_garbage_weights(broken):
    path = broken()
    (path / "model.safetensors").write_bytes(b"\x00" * 100)
    assert "corrupt or truncated weights file" in error_of(path)


def test_missing_shard(broken):
    path = broken("llama-tied-sharded")
    sorted(path.glob("model-*.safetensors"))[-1].unlink()
    assert "missing weights shard" in error_of(path)


def test_missing_tensor(broken):
    path = broken()
    tensors = load_file(path / "model.safetensors")
    del tensors["model.layers.1.mlp.up_proj.weight"]
    save_file(tensors, path / "model.safetensors")
    assert "missing tensor model.layers.1.mlp.up_proj.weight" in error_of(path)


def test_shape_mismatch(broken):
    path = broken()
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "intermediate_size": 96}))
    message = error_of(path)
    assert "has shape [128, 64]" in message and "implies [96, 64]" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_requested_without_cuda(tiny_model_dir):
    with pytest.raises(ModelLoadError, match="CUDA is not available"):
        load_model(tiny_model_dir("qwen2"), device="cuda")


@pytest.mark.gpu
def test_cuda_float32_matches_cpu(tiny_model_dir):
    from .paged_inputs import PagedBatch, run_paged

    path = tiny_model_dir("qwen3")
    ids = [5, 17, 200, 3, 99, 42, 7, 8, 250, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    results = []
    for loaded in (load_model(path), load_model(path, device="cuda", dtype=torch.float32)):
        kv = loaded.model.allocate_kv_caches(4)
        (logits,) = run_paged(loaded.model, PagedBatch(num_seqs=1, max_pages=4), kv, [ids])
        results.append(logits)
    expected, got = results
    # Triton may use TF32 for fp32 dots on the GPU: a looser bound than the CPU parity tests
    assert ((got - expected).abs().max() / expected.abs().max()).item() <= 1e-2
