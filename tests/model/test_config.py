"""ModelConfig from Hugging Face config dicts of both transformers layouts."""

from __future__ import annotations

import json

import pytest

from codepager.errors import ModelLoadError
from codepager.model.config import ModelConfig

BASE = {
    "vocab_size": 320, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-6,
    "max_position_embeddings": 4096, "tie_word_embeddings": False,
}


def config(model_type: str = "llama", **changes) -> ModelConfig:
    return ModelConfig.from_dict({**BASE, "model_type": model_type, **changes})


def test_top_level_rope_theta_and_rope_parameters_agree():
    old = config(rope_theta=500000.0, rope_scaling={"type": "linear", "factor": 2.0})
    new = config(rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 500000.0})
    assert old == new
    assert old.rope_theta == 500000.0
    assert old.rope_scaling == {"rope_type": "linear", "factor": 2.0}


def test_default_rope_has_no_scaling_dict():
    assert config(rope_parameters={"rope_type": "default", "rope_theta": 1e6}).rope_scaling is None
    assert config(rope_theta=1e6, rope_scaling=None).rope_theta == 1e6
    assert config().rope_theta == 10000.0


def test_llama3_scaling_gets_original_length_from_top_level():
    rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}
    assert config(rope_scaling=rope).rope_scaling["original_max_position_embeddings"] == 4096


def test_family_flags():
    assert config("qwen2").attention_bias and not config("qwen2").output_bias
    assert not config("llama").attention_bias
    assert config("llama", attention_bias=True).output_bias
    assert config("qwen3").qk_norm and not config("llama").qk_norm
    assert config("llama").head_dim == 16
    assert config("qwen3", head_dim=32).head_dim == 32


def test_round_trips_every_transformers_config(tmp_path):
    import transformers

    for cls in (transformers.LlamaConfig, transformers.Qwen2Config, transformers.Qwen3Config):
        hf = cls(**{k: v for k, v in BASE.items()}, head_dim=16)
        (tmp_path / "config.json").write_text(hf.to_json_string())
        ours = ModelConfig.from_dir(tmp_path)
        assert (ours.num_layers, ours.num_kv_heads, ours.head_dim) == (2, 2, 16)
        assert ours.model_type == hf.model_type
        assert json.loads(ours.to_canonical_json())["vocab_size"] == 320


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model_type": "gpt2"}, "unsupported model_type 'gpt2'"),
        ({"hidden_act": "gelu"}, "unsupported hidden_act 'gelu'"),
        ({"num_key_value_heads": 3}, "not a multiple of num_key_value_heads 3"),
        ({"vocab_size": None}, "missing 'vocab_size'"),
        ({"intermediate_size": -5}, "intermediate_size must be a positive integer"),
        ({"rope_scaling": {"type": "longrope", "factor": 2.0}}, "unsupported rope scaling 'longrope'"),
        ({"rope_scaling": {"type": "linear"}}, "needs a 'factor'"),
        ({"use_sliding_window": True}, "sliding-window"),
        ({"partial_rotary_factor": 0.5}, "partial rotary"),
    ],
)
def test_bad_configs_are_one_line_errors(changes, message):
    with pytest.raises(ModelLoadError, match=message) as info:
        ModelConfig.from_dict({**BASE, "model_type": "llama", **changes})
    assert "\n" not in str(info.value)
