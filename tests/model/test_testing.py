"""make_tiny_model_dir, the fixture other packages' tests build models with."""

from __future__ import annotations

import pytest

from codepager.model import load_model
from codepager.model.config import ModelConfig
from codepager.model.testing import make_tiny_model_dir


def test_overrides_reach_the_config_and_seed_decides_the_weights(tmp_path):
    first = make_tiny_model_dir(tmp_path / "a", "llama", num_hidden_layers=3, seed=1)
    again = make_tiny_model_dir(tmp_path / "b", "llama", num_hidden_layers=3, seed=1)
    other = make_tiny_model_dir(tmp_path / "c", "llama", num_hidden_layers=3, seed=2)
    assert ModelConfig.from_dir(first).num_layers == 3
    fingerprints = [load_model(path).fingerprint for path in (first, again, other)]
    assert fingerprints[0] == fingerprints[1] != fingerprints[2]
    assert hash(ModelConfig.from_dir(first)) == hash(ModelConfig.from_dir(again))


def test_unknown_type_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown tiny model type 'gpt2'"):
        make_tiny_model_dir(tmp_path, "gpt2")
