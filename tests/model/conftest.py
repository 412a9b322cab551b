"""Tiny random checkpoints shared by the model tests (built once per session, never modified)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codepager.model.testing import make_tiny_model_dir

LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 64}
YARN_ROPE = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64}
LINEAR_ROPE = {"rope_type": "linear", "factor": 2.0}

# name -> (model_type, overrides)
VARIANTS: dict[str, tuple[str, dict]] = {
    "llama": ("llama", {}),
    "qwen2": ("qwen2", {}),
    "qwen3": ("qwen3", {}),
    "llama-rope-llama3": ("llama", {"rope_parameters": {**LLAMA3_ROPE, "rope_theta": 10000.0}}),
    "qwen2-rope-yarn": ("qwen2", {"rope_parameters": {**YARN_ROPE, "rope_theta": 10000.0}}),
    "llama-rope-linear-bias": ("llama", {"rope_parameters": {**LINEAR_ROPE, "rope_theta": 500000.0},
                                         "attention_bias": True, "mlp_bias": True}),
    "qwen3-tied": ("qwen3", {"tie_word_embeddings": True}),
    "llama-tied-sharded": ("llama", {"tie_word_embeddings": True, "_shard": "60KB"}),
}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """tiny_model_dir(variant) -> directory of that checkpoint (created on first use)."""
    made: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("tiny_models")

    def get(variant: str) -> Path:
        if variant not in made:
            model_type, overrides = VARIANTS[variant]
            overrides = dict(overrides)
            shard = overrides.pop("_shard", None)
            made[variant] = make_tiny_model_dir(root / variant, model_type, max_shard_size=shard, **overrides)
        return made[variant]

    return get
