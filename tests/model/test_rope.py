"""Inverse frequencies and attention factor of every supported RoPE variant equal transformers'."""

from __future__ import annotations

import pytest
import torch

from codepager.model.config import ModelConfig
from codepager.model.rope import apply_rope, rope_cos_sin, rope_parameters

ROPES = [
    {"rope_type": "default"},
    {"rope_type": "linear", "factor": 4.0},
    {"rope_type": "dynamic", "factor": 2.0},
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 8192},
    {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 64},
    {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768},
    {"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096, "mscale": 1.0,
     "mscale_all_dim": 0.707, "beta_fast": 16, "beta_slow": 2},
    {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 2048, "attention_factor": 1.5,
     "truncate": False},
]


@pytest.mark.parametrize("head_dim", [64, 128])
@pytest.mark.parametrize("rope", ROPES, ids=lambda r: r["rope_type"])
def test_inverse_frequencies_match_transformers(rope, head_dim):
    import transformers
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    hf_config = transformers.LlamaConfig(
        hidden_size=head_dim * 4, num_attention_heads=4, head_dim=head_dim, max_position_embeddings=131072,
        rope_parameters={**rope, "rope_theta": 500000.0},
    )
    if rope["rope_type"] == "default":
        hf_model = transformers.models.llama.modeling_llama.LlamaRotaryEmbedding
        expected, expected_factor = hf_model.compute_default_rope_parameters(hf_config)
    else:
        expected, expected_factor = ROPE_INIT_FUNCTIONS[rope["rope_type"]](hf_config, "cpu")
    ours, factor = rope_parameters(ModelConfig.from_dict(hf_config.to_dict()))
    assert ours.dtype == torch.float32 and ours.shape == (head_dim // 2,)
    torch.testing.assert_close(ours, expected.to(torch.float32), rtol=1e-6, atol=0)
    assert factor == pytest.approx(expected_factor, rel=1e-12)


def test_rotation_is_relative():
    """<R(p) q, R(p') k> depends only on p - p' (what page shifts and segment reuse rely on)."""
    config = ModelConfig.from_dict({
        "model_type": "llama", "vocab_size": 10, "hidden_size": 32, "intermediate_size": 8,
        "num_hidden_layers": 1, "num_attention_heads": 2, "rope_theta": 10000.0,
    })
    inv_freq, factor = rope_parameters(config)
    q, k = torch.randn(2, 1, 1, 16, generator=torch.Generator().manual_seed(0))  # each (T=1, H=1, D)

    def score(pq: int, pk: int) -> float:
        cq, sq = rope_cos_sin(torch.tensor([pq]), inv_freq, factor, torch.float32)
        ck, sk = rope_cos_sin(torch.tensor([pk]), inv_freq, factor, torch.float32)
        return (apply_rope(q, cq, sq) * apply_rope(k, ck, sk)).sum().item()

    assert score(7, 3) == pytest.approx(score(107, 103), rel=1e-5)
    by_distance = [score(20, 20 - d) for d in range(8)]
    assert max(by_distance) - min(by_distance) > 1e-2
