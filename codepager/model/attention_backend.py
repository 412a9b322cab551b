"""The one dispatch point between the model's attention layers and the paged-attention kernels.

On CUDA the Triton kernels run; on CPU codepager.model.cpu_attention, whose gather plan is built once
per forward pass and cached on the AttentionMetadata (the plain-torch references of codepager.kernels
stay the oracle both are tested against). The engine fills one AttentionMetadata per forward pass.
The decode path on CUDA reads no tensor data on the host, so a decode step can be captured in a CUDA
graph (extend reads cu_seqlens_q for its grid).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from codepager.kernels.paged_decode import paged_decode, paged_decode_ref
from codepager.kernels.paged_extend import paged_extend, paged_extend_ref
from codepager.kernels.store_kv import store_kv as store_kv_triton
from codepager.kernels.store_kv import store_kv_ref
from codepager.model.cpu_attention import CpuAttentionPlan, attend, build_plan


@dataclass
class AttentionMetadata:
    """Everything a forward pass over paged KV needs besides the tensors of one layer.

    T = tokens in this forward pass (packed over sequences), S = sequences, P = max pages.
    """

    slot_mapping: torch.Tensor  # [T] int64: where each new token's K/V goes; -1 = don't store
    block_tables: torch.Tensor  # [S, P] int32
    page_starts: torch.Tensor  # [S, P] int32
    page_lens: torch.Tensor  # [S, P] int32 (valid tokens after this pass's K/V are stored)
    page_shifts: torch.Tensor | None  # [S, P] int32, None when no page is shifted
    cu_seqlens_q: torch.Tensor  # [S + 1] int32
    q_positions: torch.Tensor  # [T] int32 logical position of each new token
    is_decode: bool  # every sequence has exactly one new token
    cpu_plan: CpuAttentionPlan | None = None  # built by the first CPU layer, reused by the others


def store_kv(
    key: torch.Tensor, value: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
    meta: AttentionMetadata,
) -> None:
    store = store_kv_triton if k_cache.is_cuda else store_kv_ref
    store(key=key, value=value, k_cache=k_cache, v_cache=v_cache, slot_mapping=meta.slot_mapping)


def paged_attention(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, meta: AttentionMetadata,
    rope_inv_freq: torch.Tensor, scale: float, *, pdl: bool = False,
) -> torch.Tensor:
    """q [T, Hq, D] (RoPE applied) -> out [T, Hq, D] over the pages described by meta; pdl chains the
    CUDA decode kernels by programmatic dependent launch (codepager.kernels.pdl)."""
    if not q.is_cuda:
        return cpu_paged_attention(q, k_cache, v_cache, meta, rope_inv_freq, scale)
    decode = functools.partial(paged_decode, pdl=pdl) if pdl else paged_decode
    return _decode_or_extend(decode, paged_extend, q, k_cache, v_cache, meta, rope_inv_freq, scale)


def cpu_paged_attention(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, meta: AttentionMetadata,
    rope_inv_freq: torch.Tensor, scale: float,
) -> torch.Tensor:
    """Same result as paged_decode_ref / paged_extend_ref (the oracle), without rebuilding the key
    list in every layer."""
    if meta.cpu_plan is None:
        meta.cpu_plan = build_plan(
            page_size=k_cache.shape[1], block_tables=meta.block_tables, page_starts=meta.page_starts,
            page_lens=meta.page_lens, page_shifts=meta.page_shifts, cu_seqlens_q=meta.cu_seqlens_q,
            q_positions=None if meta.is_decode else meta.q_positions, rope_inv_freq=rope_inv_freq,
        )
    return attend(q, k_cache, v_cache, meta.cpu_plan, scale)


def reference_paged_attention(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, meta: AttentionMetadata,
    rope_inv_freq: torch.Tensor, scale: float,
) -> torch.Tensor:
    """The plain-torch references on the same inputs: the oracle for both fast paths."""
    return _decode_or_extend(paged_decode_ref, paged_extend_ref, q, k_cache, v_cache, meta, rope_inv_freq,
                             scale)


def _decode_or_extend(decode: Callable[..., torch.Tensor], extend: Callable[..., torch.Tensor],
                      q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, meta: AttentionMetadata,
                      rope_inv_freq: torch.Tensor, scale: float) -> torch.Tensor:
    common = dict(
        k_cache=k_cache, v_cache=v_cache, block_tables=meta.block_tables,
        page_starts=meta.page_starts, page_lens=meta.page_lens, page_shifts=meta.page_shifts,
        rope_inv_freq=rope_inv_freq, scale=scale,
    )
    if meta.is_decode:
        return decode(q=q, **common)
    return extend(q=q, cu_seqlens_q=meta.cu_seqlens_q, q_positions=meta.q_positions, **common)
