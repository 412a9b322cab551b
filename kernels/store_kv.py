"""Store new K/V into pages by slot mapping.

Layouts:
    key, value:    [num_tokens, num_kv_heads, head_dim]
    k_cache, v_cache: [num_pages, PAGE_SIZE, num_kv_heads, head_dim]  (written in place)
    slot_mapping:  [num_tokens] int64, page * PAGE_SIZE + slot; -1 = skip (padding)
"""

from __future__ import annotations

import torch


def store_kv_ref(
    *,
    key: torch.Tensor,
    value: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    slot_mapping: torch.Tensor,
) -> None:
    keep = slot_mapping >= 0
    slots = slot_mapping[keep].long()
    k_flat = k_cache.view(-1, k_cache.shape[2], k_cache.shape[3])  # (pages * PAGE_SIZE, Hkv, D)
    v_flat = v_cache.view(-1, v_cache.shape[2], v_cache.shape[3])
    k_flat[slots] = key[keep].to(k_cache.dtype)
    v_flat[slots] = value[keep].to(v_cache.dtype)
