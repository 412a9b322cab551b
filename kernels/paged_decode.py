"""Paged decode: one query token per sequence attends to all valid keys of its paged context.

Layouts:
    q:      [num_seqs, num_q_heads, head_dim]   RoPE applied at the token's position
    k_cache etc.: see codepager.kernels.paged_layout (the token's own K/V already stored)
    out:    [num_seqs, num_q_heads, head_dim]
"""

from __future__ import annotations

import torch

from codepager.kernels.paged_extend import paged_extend_ref


def paged_decode_ref(
    *,
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    page_starts: torch.Tensor,
    page_lens: torch.Tensor,
    page_shifts: torch.Tensor | None,
    rope_inv_freq: torch.Tensor | None,
    scale: float,
) -> torch.Tensor:
    num_seqs = q.shape[0]
    cu = torch.arange(num_seqs + 1, dtype=torch.int32, device=q.device)
    # the decode query sees every stored key: give it a position past all of them
    far = torch.full((num_seqs,), torch.iinfo(torch.int32).max, dtype=torch.int32, device=q.device)
    return paged_extend_ref(
        q=q, k_cache=k_cache, v_cache=v_cache, block_tables=block_tables, page_starts=page_starts,
        page_lens=page_lens, page_shifts=page_shifts, cu_seqlens_q=cu, q_positions=far,
        rope_inv_freq=rope_inv_freq, scale=scale,
    )
