"""One decoder for the Llama / Qwen2 / Qwen3 families over paged KV.

Differences are flags of ModelConfig: q/k/v bias (Qwen2, or Llama/Qwen3 `attention_bias`, which
also biases o_proj), per-head QK RMSNorm before RoPE (Qwen3), tied embeddings. Parameter names
match the Hugging Face checkpoints except two fused projections: `self_attn.qkv_proj` (q, k, v rows
concatenated) and `mlp.gate_up_proj` (gate, up), one GEMM each instead of three and two; the loader
concatenates the checkpoint's tensors (`loader.fuse_projections`). Attention always goes through
`attention_backend` (paged, CPU or Triton). The elementwise steps (residual add + RMSNorm, RoPE,
SwiGLU) run as fused Triton kernels on CUDA and as their plain-torch references elsewhere, so CPU
results are those of the unfused model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from codepager.kernels.argmax import greedy_argmax, greedy_argmax_ref
from codepager.kernels.decode_linear import MAX_M as DECODE_LINEAR_ROWS
from codepager.kernels.decode_linear import RopeStore, decode_linear
from codepager.kernels.paged_layout import PAGE_SIZE
from codepager.kernels.rms_norm import add_rms_norm, add_rms_norm_ref, rms_norm, rms_norm_ref
from codepager.kernels.rope import apply_rope_inplace, rope_and_store_kv
from codepager.kernels.swiglu import silu_and_mul, silu_and_mul_ref
from codepager.model.attention_backend import AttentionMetadata, paged_attention, store_kv
from codepager.model.config import ModelConfig
from codepager.model.rope import apply_rope, rope_cos_sin, rope_parameters

# How a decode step of a few rows runs on CUDA: "cublas" = cuBLAS projections with the fused
# elementwise kernels between them (11 launches a layer); "triton" = the norms, SwiGLU, and RoPE with
# the K/V store folded into Triton projections (codepager.kernels.decode_linear: 6 launches, 7 with
# QK-norm); "triton_pdl" = the same chained by programmatic dependent launch (codepager.kernels.pdl;
# compute capability >= 9).
DECODE_KERNELS = ("cublas", "triton", "triton_pdl")


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
        self.decode_kernels = "cublas"  # one of DECODE_KERNELS; the engine sets it per device
        self.rope_table: tuple[torch.Tensor, torch.Tensor] | None = None  # see cache_rope
        if config.tie_word_embeddings:
            self.tie_weights()

    def tie_weights(self) -> None:
        self.lm_head.weight = self.model.embed_tokens.weight

    def cache_rope(self, max_positions: int) -> None:
        """Precompute cos and sin [max_positions, head_dim] (rope_cos_sin of every position, so the
        same numbers): a step then gathers its rows in two kernels instead of computing them in
        nine, 10 µs of a 1.5B decode step on the H100. Positions must stay below max_positions;
        the table only grows (engines sharing a model keep theirs)."""
        if self.rope_table is not None and self.rope_table[0].shape[0] >= max_positions:
            return
        weight = self.lm_head.weight
        positions = torch.arange(max_positions, device=weight.device)
        factor = self.rope_attention_factor
        self.rope_table = rope_cos_sin(positions, self.rope_inv_freq, factor, weight.dtype)

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
        if self.rope_table is None:
            cos, sin = rope_cos_sin(positions, self.rope_inv_freq, self.rope_attention_factor, hidden.dtype)
        else:
            cos, sin = self.rope_table[0][positions], self.rope_table[1][positions]  # (T, D) each
        residual = None
        chained = (self.decode_kernels != "cublas" and meta.is_decode and fused_kernels_for(hidden)
                   and 0 < hidden.shape[0] <= DECODE_LINEAR_ROWS)
        pdl = self.decode_kernels == "triton_pdl"
        for layer, (k_cache, v_cache) in zip(self.model.layers, kv_caches, strict=True):
            args = (hidden, residual, cos, sin, meta, k_cache, v_cache, self.rope_inv_freq)
            hidden, residual = layer.forward_decode(*args, pdl=pdl) if chained else layer(*args)
        return self.model.norm.add_and_norm(hidden, residual)[0]

    def compute_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """[N, hidden] -> [N, vocab] float32."""
        return self.lm_head(hidden).float()

    def greedy_tokens(self, hidden: torch.Tensor, *, out: torch.Tensor | None = None) -> torch.Tensor:
        """[N, hidden] -> [N] int64, the argmax of compute_logits (taken on the logits' own dtype:
        widening to float32 changes no value, so not the argmax either)."""
        logits = self.lm_head(hidden)  # (N, vocab)
        if fused_kernels_for(logits):
            return greedy_argmax(logits=logits, out=out)
        return greedy_argmax_ref(logits=logits, out=out)

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


def fused_kernels_for(x: torch.Tensor) -> bool:
    """The fused Triton elementwise kernels on CUDA; their plain-torch references elsewhere."""
    return x.is_cuda


class DecoderLayer(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = SwiGLU(config)

    def forward(
        self, hidden: torch.Tensor, residual: torch.Tensor | None, cos: torch.Tensor, sin: torch.Tensor,
        meta: AttentionMetadata, k_cache: torch.Tensor, v_cache: torch.Tensor, rope_inv_freq: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mlp output, residual stream before it): the layer's output is their sum, which the next
        layer's input norm (or the final norm) computes fused with itself, one kernel fewer per layer.
        residual is None for the first layer (hidden is then the embeddings)."""
        normed, residual = self.input_layernorm.norm_with_residual(hidden, residual)
        attn_out = self.self_attn(normed, cos, sin, meta, k_cache, v_cache, rope_inv_freq)
        normed, residual = self.post_attention_layernorm.add_and_norm(attn_out, residual)
        return self.mlp(normed), residual

    def forward_decode(
        self, hidden: torch.Tensor, residual: torch.Tensor | None, cos: torch.Tensor, sin: torch.Tensor,
        meta: AttentionMetadata, k_cache: torch.Tensor, v_cache: torch.Tensor, rope_inv_freq: torch.Tensor,
        pdl: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """forward for a decode step of at most DECODE_LINEAR_ROWS rows on CUDA: each norm runs
        inside the projection after it, RoPE and the K/V store inside qkv (but for QK-norm models)
        and SwiGLU inside gate_up (decode_linear), every Triton kernel of the layer chained by
        programmatic dependent launch when pdl."""
        attn, mlp = self.self_attn, self.mlp
        first, post = self.input_layernorm, self.post_attention_layernorm
        rope = None
        if attn.q_norm is None:  # RoPE and the K/V store in the projection's epilogue
            rope = RopeStore(cos=cos, sin=sin, k_cache=k_cache, v_cache=v_cache,
                             slot_mapping=meta.slot_mapping, num_q_heads=attn.num_heads,
                             num_kv_heads=attn.num_kv_heads)
        qkv, summed = decode_linear(x=hidden, residual=residual, norm_weight=first.weight, eps=first.eps,
                                    weight=attn.qkv_proj.weight, bias=attn.qkv_proj.bias, rope=rope, pdl=pdl)
        residual = hidden if summed is None else summed
        if rope is None:
            out = attn.attend(qkv, cos, sin, meta, k_cache, v_cache, rope_inv_freq, pdl=pdl)  # (T, Hq * D)
        else:
            q = rope.split_heads(qkv)[0]  # (T, Hq, D), rotated
            out = paged_attention(q, k_cache, v_cache, meta, rope_inv_freq, attn.scale, pdl=pdl)
            out = out.reshape(qkv.shape[0], attn.q_size)  # (T, Hq * D)
        o, _ = decode_linear(x=out, weight=attn.o_proj.weight, bias=attn.o_proj.bias, pdl=pdl)
        act, residual = decode_linear(x=o, residual=residual, norm_weight=post.weight, eps=post.eps,
                                      weight=mlp.gate_up_proj.weight, bias=mlp.gate_up_proj.bias,
                                      swiglu=True, pdl=pdl)
        down, _ = decode_linear(x=act, weight=mlp.down_proj.weight, bias=mlp.down_proj.bias, pdl=pdl)
        return down, residual


class Attention(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.num_heads = config.num_heads
        self.num_kv_heads = config.num_kv_heads
        self.head_dim = config.head_dim
        self.scale = config.head_dim**-0.5
        self.q_size = config.num_heads * config.head_dim
        self.kv_size = config.num_kv_heads * config.head_dim
        qkv_size = self.q_size + 2 * self.kv_size
        self.qkv_proj = nn.Linear(config.hidden_size, qkv_size, bias=config.attention_bias)
        self.o_proj = nn.Linear(self.q_size, config.hidden_size, bias=config.output_bias)
        if config.qk_norm:
            self.q_norm = RMSNorm(config.head_dim, config.rms_norm_eps)
            self.k_norm = RMSNorm(config.head_dim, config.rms_norm_eps)
        else:
            self.q_norm = self.k_norm = None

    def project_qkv(
        self, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """hidden [T, hidden] -> q [T, Hq, D], k [T, Hkv, D] (normed if QK-norm, rotated), v [T, Hkv, D];
        on CUDA q, k and v may be strided views into one fused output."""
        q, k, v = self._project(hidden)
        if fused_kernels_for(q):
            apply_rope_inplace(q=q, k=k, cos=cos, sin=sin)
            return q, k, v
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def _project(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q [T, Hq, D], k [T, Hkv, D] (QK-normed if the model has it), v [T, Hkv, D], before RoPE."""
        return self._split_heads(self.qkv_proj(hidden))

    def _split_heads(self, qkv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """qkv [T, (Hq + 2 Hkv) * D] -> views q, k, v (q and k QK-normed if the model has it)."""
        tokens = qkv.shape[0]
        q, k, v = qkv.split([self.q_size, self.kv_size, self.kv_size], dim=-1)
        q = q.view(tokens, self.num_heads, self.head_dim)  # (T, Hq, D)
        k = k.view(tokens, self.num_kv_heads, self.head_dim)  # (T, Hkv, D)
        v = v.view(tokens, self.num_kv_heads, self.head_dim)  # (T, Hkv, D)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        return q, k, v

    def forward(
        self, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, meta: AttentionMetadata,
        k_cache: torch.Tensor, v_cache: torch.Tensor, rope_inv_freq: torch.Tensor,
    ) -> torch.Tensor:
        if fused_kernels_for(hidden) and k_cache.is_cuda:
            qkv = self.qkv_proj(hidden)  # (T, (Hq + 2 Hkv) * D)
            return self.o_proj(self.attend(qkv, cos, sin, meta, k_cache, v_cache, rope_inv_freq, pdl=False))
        q, k, v = self.project_qkv(hidden, cos, sin)
        store_kv(k, v, k_cache, v_cache, meta)
        out = paged_attention(q, k_cache, v_cache, meta, rope_inv_freq, self.scale)  # (T, Hq, D)
        return self.o_proj(out.reshape(hidden.shape[0], self.q_size))  # (T, hidden)

    def attend(
        self, qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, meta: AttentionMetadata,
        k_cache: torch.Tensor, v_cache: torch.Tensor, rope_inv_freq: torch.Tensor, *, pdl: bool,
    ) -> torch.Tensor:
        """CUDA: projected qkv [T, (Hq + 2 Hkv) * D] -> attention output [T, Hq * D] (before o_proj),
        K/V stored (RoPE and the store in one kernel); the Triton kernels chained by programmatic
        dependent launch when pdl."""
        q, k, v = self._split_heads(qkv)
        rope_and_store_kv(q=q, k=k, v=v, cos=cos, sin=sin, k_cache=k_cache, v_cache=v_cache,
                          slot_mapping=meta.slot_mapping, pdl=pdl)
        out = paged_attention(q, k_cache, v_cache, meta, rope_inv_freq, self.scale, pdl=pdl)  # (T, Hq, D)
        return out.reshape(qkv.shape[0], self.q_size)


class SwiGLU(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.gate_up_proj = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=config.mlp_bias)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=config.mlp_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate_up = self.gate_up_proj(x)  # (T, 2 * intermediate): gate then up
        activate = silu_and_mul if fused_kernels_for(gate_up) else silu_and_mul_ref
        return self.down_proj(activate(gate_up=gate_up))


class RMSNorm(nn.Module):
    """Normalises in float32 and scales in the input dtype, as the Hugging Face models do."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = rms_norm if fused_kernels_for(x) else rms_norm_ref
        return norm(x=x, weight=self.weight, eps=self.eps)

    def norm_with_residual(
        self, x: torch.Tensor, residual: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(norm of residual + x, residual + x); without a residual (norm of x, x)."""
        if residual is None:
            return self(x), x
        return self.add_and_norm(x, residual)

    def add_and_norm(self, x: torch.Tensor, residual: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(norm of residual + x, residual + x): the residual add fused into the norm on CUDA."""
        add_norm = add_rms_norm if fused_kernels_for(x) else add_rms_norm_ref
        return add_norm(x=x, residual=residual, weight=self.weight, eps=self.eps)
