"""The architecture of a Llama / Qwen2 / Qwen3 decoder, read from a Hugging Face `config.json`."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codepager.errors import ModelLoadError

SUPPORTED_MODEL_TYPES = ("llama", "qwen2", "qwen3")
SUPPORTED_ROPE_TYPES = ("default", "linear", "dynamic", "llama3", "yarn")
_DEFAULT_MAX_POSITIONS = {"llama": 2048, "qwen2": 32768, "qwen3": 32768}


@dataclass(frozen=True)
class ModelConfig:
    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    rope_scaling: dict | None  # rope_type and its parameters; None for plain RoPE
    max_position_embeddings: int
    tie_word_embeddings: bool
    attention_bias: bool
    qk_norm: bool
    mlp_bias: bool = False

    def __post_init__(self) -> None:
        if self.model_type not in SUPPORTED_MODEL_TYPES:
            raise ModelLoadError(
                f"unsupported model_type {self.model_type!r}; supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
            )
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads",
                     "num_kv_heads", "head_dim", "max_position_embeddings"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ModelLoadError(f"model config {name} must be a positive integer, got {value!r}")
        if self.num_heads % self.num_kv_heads:
            raise ModelLoadError(
                f"model config num_attention_heads {self.num_heads} is not a multiple of "
                f"num_key_value_heads {self.num_kv_heads}"
            )
        if self.head_dim % 2:
            raise ModelLoadError(f"model config head_dim must be even for RoPE, got {self.head_dim}")
        if not self.rms_norm_eps > 0 or not self.rope_theta > 0:
            raise ModelLoadError("model config rms_norm_eps and rope_theta must be positive")
        rope_type = (self.rope_scaling or {}).get("rope_type", "default")
        if rope_type not in SUPPORTED_ROPE_TYPES:
            raise ModelLoadError(
                f"unsupported rope scaling {rope_type!r}; supported: {', '.join(SUPPORTED_ROPE_TYPES)}"
            )

    def __hash__(self) -> int:  # rope_scaling is a dict
        return hash(self.to_canonical_json())

    @property
    def output_bias(self) -> bool:
        """Whether o_proj has a bias: Qwen2 biases q/k/v only, Llama/Qwen3 follow attention_bias."""
        return self.attention_bias and self.model_type != "qwen2"

    def to_canonical_json(self) -> str:
        """Stable text of the architecture (sorted keys), for fingerprints."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dir(cls, path: str | os.PathLike) -> ModelConfig:
        config_path = Path(path) / "config.json"
        if not config_path.is_file():
            raise ModelLoadError(f"missing config.json in model directory {path}")
        try:
            data = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"cannot read {config_path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ModelLoadError(f"{config_path} is not a JSON object")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """From a Hugging Face config dict (transformers 4 or 5 layout)."""
        model_type = data.get("model_type")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ModelLoadError(
                f"unsupported model_type {model_type!r}; supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
            )
        activation = data.get("hidden_act", "silu")
        if activation != "silu":
            raise ModelLoadError(f"unsupported hidden_act {activation!r}; only silu (SwiGLU) is implemented")
        if data.get("use_sliding_window"):
            raise ModelLoadError("sliding-window attention (use_sliding_window: true) is not supported")

        def required(key: str) -> Any:
            if data.get(key) is None:
                raise ModelLoadError(f"model config is missing {key!r}")
            return data[key]

        hidden_size = required("hidden_size")
        num_heads = required("num_attention_heads")
        derived_head_dim = hidden_size // num_heads if isinstance(hidden_size, int) else None
        head_dim = data.get("head_dim") or derived_head_dim
        rope_theta, rope_scaling = _rope_settings(data)
        if model_type == "qwen2":
            attention_bias = True
        else:
            attention_bias = bool(data.get("attention_bias", False))
        return cls(
            model_type=model_type,
            vocab_size=required("vocab_size"),
            hidden_size=hidden_size,
            intermediate_size=required("intermediate_size"),
            num_layers=required("num_hidden_layers"),
            num_heads=num_heads,
            num_kv_heads=data.get("num_key_value_heads") or num_heads,
            head_dim=head_dim,
            rms_norm_eps=float(data.get("rms_norm_eps", 1e-6)),
            rope_theta=rope_theta,
            rope_scaling=rope_scaling,
            max_position_embeddings=data.get("max_position_embeddings") or _DEFAULT_MAX_POSITIONS[model_type],
            tie_word_embeddings=bool(data.get("tie_word_embeddings", False)),
            attention_bias=attention_bias,
            qk_norm=model_type == "qwen3",
            mlp_bias=bool(data.get("mlp_bias", False)),
        )


def _rope_settings(data: dict[str, Any]) -> tuple[float, dict | None]:
    """(rope_theta, scaling dict or None) from transformers 5 `rope_parameters` or the older top-level
    `rope_theta` / `rope_scaling` keys (old dicts name the type "type" instead of "rope_type")."""
    params = data.get("rope_parameters") or data.get("rope_scaling") or {}
    if not isinstance(params, dict):
        raise ModelLoadError(f"model config rope parameters must be an object, got {params!r}")
    if any(isinstance(value, dict) for value in params.values()):
        raise ModelLoadError("per-layer-type rope parameters are not supported")
    params = dict(params)
    theta = params.pop("rope_theta", None) or data.get("rope_theta") or 10000.0
    rope_type = params.pop("rope_type", None) or params.pop("type", None) or "default"
    params.pop("type", None)
    partial = params.pop("partial_rotary_factor", None) or data.get("partial_rotary_factor") or 1.0
    if partial != 1.0:
        raise ModelLoadError(f"partial rotary embeddings (partial_rotary_factor {partial}) are not supported")
    if rope_type == "default":
        return float(theta), None
    if rope_type in ("llama3", "yarn") and "original_max_position_embeddings" not in params:
        fallback = data.get("original_max_position_embeddings") or data.get("max_position_embeddings")
        params["original_max_position_embeddings"] = fallback
    if rope_type in ("linear", "dynamic", "llama3") and not params.get("factor"):
        raise ModelLoadError(f"rope scaling {rope_type!r} needs a 'factor'")
    return float(theta), {"rope_type": rope_type, **params}
