"""The decoder (Llama / Qwen2 / Qwen3 families), its tokenizer and the offline loader."""

from codepager.model.config import ModelConfig
from codepager.model.decoder import CausalLM
from codepager.model.loader import LoadedModel, load_model
from codepager.model.tokenizer import Tokenizer

__all__ = ["CausalLM", "LoadedModel", "ModelConfig", "Tokenizer", "load_model"]
