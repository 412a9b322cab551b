"""Tiny random checkpoints for the engine tests: built once per session, loaded once, never modified."""

from __future__ import annotations

import pytest

from codepager.engine.config import EngineConfig
from codepager.engine.llm_engine import LLMEngine
from codepager.model.loader import load_model
from codepager.model.testing import make_tiny_model_dir

MODEL_TYPES = ("llama", "qwen2", "qwen3")


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """tiny_dir(model_type) -> directory of a tiny random checkpoint of that family."""
    made = {}
    root = tmp_path_factory.mktemp("engine_models")

    def get(model_type: str):
        if model_type not in made:
            made[model_type] = make_tiny_model_dir(root / model_type, model_type, seed=3)
        return made[model_type]

    return get


@pytest.fixture(scope="session")
def tiny_loaded(tiny_dir):
    """tiny_loaded(model_type) -> LoadedModel (fp32, CPU), shared by engines of one session."""
    loaded = {}

    def get(model_type: str = "qwen2"):
        if model_type not in loaded:
            loaded[model_type] = load_model(tiny_dir(model_type))
        return loaded[model_type]

    return get


@pytest.fixture
def make_engine(tiny_loaded):
    """make_engine(model_type="qwen2", **EngineConfig settings) -> a fresh engine (own KV pool)."""

    def make(model_type: str = "qwen2", **settings) -> LLMEngine:
        settings.setdefault("num_pages", 64)
        return LLMEngine(tiny_loaded(model_type), EngineConfig(**settings))

    return make


@pytest.fixture(scope="session")
def hf_model(tiny_dir):
    """hf_model(model_type) -> the same checkpoint through transformers (the reference)."""
    import torch
    import transformers

    models = {}

    def get(model_type: str):
        if model_type not in models:
            auto = transformers.AutoModelForCausalLM
            model = auto.from_pretrained(tiny_dir(model_type), dtype=torch.float32)
            models[model_type] = model.eval()
        return models[model_type]

    return get
