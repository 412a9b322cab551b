"""One decoder for the Llama / Qwen2 / Qwen3 families over paged KV.

Differences are flags of ModelConfig: q/k/v bias (Qwen2, or Llama/Qwen3 `attention_bias`, which
also biases o_proj), per-head QK RMSNorm before RoPE (Qwen3), tied embeddings. Parameter names
match the Hugging Face checkpoints (`model.layers.N.self_attn.q_proj.weight`, ...), so loading is a
plain state-dict copy. Attention always goes through `attention_backend` (paged, CPU or Triton).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from codepager.kernels.paged_layout import PAGE_SIZE
from codepager.model.attention_backend import AttentionMetadata, paged_attention, store_kv
from codepager.model.config import ModelConfig
from codepager.model.rope import apply_rope, rope_cos_sin, rope_parameters


class CausalLM(nn.Module):
    rope_inv_freq: torch.Tensor

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.model = DecoderStack(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        inv_freq, attention_factor = rope_parameters(config)
        self.register_buffer("rope_inv_freq", inv_freq, persistent=False)  # [head_dim // 2] float32
        self.rope_attention_factor = attention_factor
        if config.tie_word_embeddings:
            self.tie_weights()

    def tie_weights(self) -> None:
        self.lm_head.weight = self.model.embed_tokens.weight

    def forward(
        self, input_ids: torch.Tensor, positions: torch.Tensor, meta: AttentionMetadata,
        kv_caches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    ) -> torch.Tensor:
        """input_ids, positions: [T] int64 (packed tokens of all sequences in this pass);
        kv_caches[layer] = (k_cache, v_cache) each [num_pages, 16, num_kv_heads, head_dim];
        returns final-normed hidden states [T, hidden_size]."""
        if len(kv_caches) != self.config.num_layers:
            raise ValueError(f"expected {self.config.num_layers} KV caches, got {len(kv_caches)}")
        hidden = self.model.embed_tokens(input_ids)  # (T, hidden)
        cos, sin = rope_cos_sin(positions, self.rope_inv_freq, self.rope_attention_factor, hidden.dtype)
        for layer, (k_cache, v_cache) in zip(self.model.layers, kv_caches, strict=True):
            hidden = layer(hidden, cos, sin, meta, k_cache, v_cache, self.rope_inv_freq)
        return self.model.norm(hidden)

    def compute_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """[N, hidden] -> [N, vocab] float32."""
        return self.lm_head(hidden).float()

    def allocate_kv_caches(
        self, num_pages: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Zeroed per-layer (k_cache, v_cache), each [num_pages, PAGE_SIZE, num_kv_heads, head_dim]."""
        weight = self.model.embed_tokens.weight
        shape = (num_pages, PAGE_SIZE, self.config.num_kv_heads, self.config.head_dim)
        device = weight.device if device is None else device
        dtype = weight.dtype if dtype is None else dtype
        return [
            (torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype))
            for _ in range(self.config.num_layers)
        ]


class DecoderStack(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)


class DecoderLayer(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = SwiGLU(config)

    def forward(
        self, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, meta: AttentionMetadata,
        k_cache: torch.Tensor, v_cache: torch.Tensor, rope_inv_freq: torch.Tensor,
    ) -> torch.Tensor:
        hidden = hidden + self.self_attn(
            self.input_layernorm(hidden), cos, sin, meta, k_cache, v_cache, rope_inv_freq
        )
        return hidden + self.mlp(self.post_attention_layernorm(hidden))


class Attention(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.num_heads = config.num_heads
        self.num_kv_heads = config.num_kv_heads
        self.head_dim = config.head_dim
        self.scale = config.head_dim**-0.5
        q_size = config.num_heads * config.head_dim
        kv_size = config.num_kv_heads * config.head_dim
        self.q_proj = nn.Linear(config.hidden_size, q_size, bias=config.attention_bias)
        self.k_proj = nn.Linear(config.hidden_size, kv_size, bias=config.attention_bias)
        self.v_proj = nn.Linear(config.hidden_size, kv_size, bias=config.attention_bias)
        self.o_proj = nn.Linear(q_size, config.hidden_size, bias=config.output_bias)
        if config.qk_norm:
            self.q_norm = RMSNorm(config.head_dim, config.rms_norm_eps)
            self.k_norm = RMSNorm(config.head_dim, config.rms_norm_eps)
        else:
            self.q_norm = self.k_norm = None

    def forward(
        self, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, meta: AttentionMetadata,
        k_cache: torch.Tensor, v_cache: torch.Tensor, rope_inv_freq: torch.Tensor,
    ) -> torch.Tensor:
        tokens = hidden.shape[0]
        q = self.q_proj(hidden).view(tokens, self.num_heads, self.head_dim)  # (T, Hq, D)
        k = self.k_proj(hidden).view(tokens, self.num_kv_heads, self.head_dim)  # (T, Hkv, D)
        v = self.v_proj(hidden).view(tokens, self.num_kv_heads, self.head_dim)  # (T, Hkv, D)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        store_kv(k, v, k_cache, v_cache, meta)
        out = paged_attention(q, k_cache, v_cache, meta, rope_inv_freq, self.scale)  # (T, Hq, D)
        return self.o_proj(out.reshape(tokens, self.num_heads * self.head_dim))  # (T, hidden)


class SwiGLU(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=config.mlp_bias)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=config.mlp_bias)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=config.mlp_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class RMSNorm(nn.Module):
    """Normalises in float32 and scales in the input dtype, as the Hugging Face models do."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.to(torch.float32)
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)
