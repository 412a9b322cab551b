"""Paged prefill / extend: a chunk of new query tokens per sequence attends to the sequence's paged
context, causally by logical position (the new tokens' own K/V are stored into pages first).

Layouts:
    q:             [total_q, num_q_heads, head_dim]   queries of all sequences packed, RoPE applied
    cu_seqlens_q:  [num_seqs + 1] int32               query offsets of each sequence in q
    q_positions:   [total_q] int32                    logical position of each query token
    k_cache etc.:  see codepager.kernels.paged_layout
    out:           [total_q, num_q_heads, head_dim]

A query at position P attends to every valid key whose logical position is <= P. num_q_heads must
be a multiple of num_kv_heads (GQA: query head h reads kv head h // (num_q_heads // num_kv_heads)).
"""

from __future__ import annotations

import torch

from codepager.kernels.paged_layout import gather_sequence_kv


def paged_extend_ref(
    *,
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    page_starts: torch.Tensor,
    page_lens: torch.Tensor,
    page_shifts: torch.Tensor | None,
    cu_seqlens_q: torch.Tensor,
    q_positions: torch.Tensor,
    rope_inv_freq: torch.Tensor | None,
    scale: float,
) -> torch.Tensor:
    num_q_heads = q.shape[1]
    num_kv_heads = k_cache.shape[2]
    group = num_q_heads // num_kv_heads
    out = torch.empty_like(q)
    bounds = cu_seqlens_q.tolist()
    for seq in range(len(bounds) - 1):
        lo, hi = bounds[seq], bounds[seq + 1]
        if hi == lo:
            continue
        keys, values, key_pos = gather_sequence_kv(
            seq=seq, k_cache=k_cache, v_cache=v_cache, block_tables=block_tables,
            page_starts=page_starts, page_lens=page_lens, page_shifts=page_shifts,
            rope_inv_freq=rope_inv_freq,
        )
        qs = q[lo:hi].transpose(0, 1).to(torch.float32)  # (Hq, n_q, D)
        ks = keys.transpose(0, 1).to(torch.float32).repeat_interleave(group, dim=0)  # (Hq, n_k, D)
        vs = values.transpose(0, 1).to(torch.float32).repeat_interleave(group, dim=0)
        allowed = key_pos[None, :] <= q_positions[lo:hi].long()[:, None]  # (n_q, n_k)
        scores = torch.matmul(qs, ks.transpose(1, 2)) * scale  # (Hq, n_q, n_k)
        scores = scores.masked_fill(~allowed[None], float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        out[lo:hi] = torch.matmul(probs, vs).transpose(0, 1).to(q.dtype)  # (n_q, Hq, D)
    return out
