"""Rotary position embeddings: inverse frequencies for each scaling variant (computed as transformers
does), and cos/sin at given positions.

Dynamic NTK is evaluated once at `max_position_embeddings` (transformers' value at load time) and
never re-scaled per request: positions of cached pages must mean the same thing in every request.
"""

from __future__ import annotations

import math

import torch

from codepager.model.config import ModelConfig


def rope_parameters(config: ModelConfig) -> tuple[torch.Tensor, float]:
    """(inv_freq [head_dim // 2] float32, attention factor that multiplies cos and sin)."""
    scaling = config.rope_scaling or {}
    rope_type = scaling.get("rope_type", "default")
    dim = config.head_dim
    base = config.rope_theta
    if rope_type == "default":
        return _plain_inv_freq(base, dim), 1.0
    if rope_type == "linear":
        return _plain_inv_freq(base, dim) / scaling["factor"], 1.0
    if rope_type == "dynamic":
        factor = scaling["factor"]
        length_ratio = 1.0  # load length / max_position_embeddings
        base = base * ((factor * length_ratio) - (factor - 1)) ** (dim / (dim - 2))
        return _plain_inv_freq(base, dim), 1.0
    if rope_type == "llama3":
        return _llama3_inv_freq(base, dim, scaling), 1.0
    if rope_type == "yarn":
        return _yarn_parameters(base, dim, scaling, config.max_position_embeddings)
    raise ValueError(f"unknown rope type {rope_type!r}")  # ModelConfig validation makes this unreachable


def rope_cos_sin(
    positions: torch.Tensor, inv_freq: torch.Tensor, attention_factor: float, dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [T, head_dim] in `dtype` for positions [T] (angles in float32, as transformers)."""
    freqs = positions.to(torch.float32)[:, None] * inv_freq.to(torch.float32)[None, :]  # (T, D/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (T, D)
    return (emb.cos() * attention_factor).to(dtype), (emb.sin() * attention_factor).to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [T, H, D] rotated by cos/sin [T, D] (rotate-half convention)."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos[:, None, :] + rotated * sin[:, None, :]


def _plain_inv_freq(base: float, dim: int) -> torch.Tensor:
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(torch.float32) / dim))


def _llama3_inv_freq(base: float, dim: int, scaling: dict) -> torch.Tensor:
    inv_freq = _plain_inv_freq(base, dim)
    factor = scaling["factor"]
    low_freq_factor = scaling["low_freq_factor"]
    high_freq_factor = scaling["high_freq_factor"]
    old_context_len = scaling["original_max_position_embeddings"]
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, scaled)


def _yarn_parameters(base: float, dim: int, scaling: dict, max_positions: int) -> tuple[torch.Tensor, float]:
    original = scaling["original_max_position_embeddings"]
    factor = scaling.get("factor") or max_positions / original
    attention_factor = scaling.get("attention_factor")
    mscale, mscale_all_dim = scaling.get("mscale"), scaling.get("mscale_all_dim")

    def get_mscale(scale: float, m: float = 1.0) -> float:
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = float(get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim))
        else:
            attention_factor = get_mscale(factor)
    beta_fast = scaling.get("beta_fast") or 32
    beta_slow = scaling.get("beta_slow") or 1

    def correction_dim(rotations: float) -> float:
        return (dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if scaling.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # avoid a zero-width ramp
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    pos_freqs = base ** (torch.arange(0, dim, 2).to(torch.float32) / dim)
    extrapolation, interpolation = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
    extrapolation_weight = 1 - ramp
    inv_freq = interpolation * (1 - extrapolation_weight) + extrapolation * extrapolation_weight
    return inv_freq, float(attention_factor)
