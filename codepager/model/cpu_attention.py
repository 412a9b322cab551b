"""Fast paged attention on CPU: same contract as codepager.kernels' paged_extend_ref / paged_decode_ref.

The references rebuild each sequence's key list per layer (nonzero, mask, gather, repeat_interleave
in Python), which is ~90 % of a CPU decode step. Everything about the key list except the keys
themselves is the same in every layer of one forward pass, so it is computed once into a
CpuAttentionPlan (cached on the AttentionMetadata): flat slot indices of the valid keys of all
sequences, the RoPE re-rotation of shifted pages, and per block of queries the keys it can see with
a boolean mask only where some of them lie after some query (a decode step needs none). Per layer
that leaves one index_select per cache, an optional elementwise rotation and two batched matmuls
and a softmax per block.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from codepager.kernels.paged_layout import rotate_half

QUERY_BLOCK = 512  # query rows per score matrix: bounds memory to heads * 512 * keys floats
MAX_RUNS = 16  # more runs of consecutive slots than this: gather the keys instead of reading them in place


@dataclass(frozen=True, slots=True)
class AttentionBlock:
    """Queries q_lo:q_hi of one sequence against gathered keys k_lo:k_hi (the keys past k_hi are
    after every one of these queries)."""

    q_lo: int
    q_hi: int
    k_lo: int
    k_hi: int
    blocked: torch.Tensor | None  # [n_q, n_k] bool, True = may not attend; None = every key allowed


@dataclass(frozen=True, slots=True)
class CpuAttentionPlan:
    slots: torch.Tensor  # [N] int64: page * PAGE_SIZE + slot of every valid key, sequence by sequence
    shift_cos: torch.Tensor | None  # [N, 1, D] float32 re-rotation of shifted keys (1 where unshifted)
    shift_sin: torch.Tensor | None  # [N, 1, D] float32 (0 where unshifted); None when nothing is shifted
    blocks: tuple[AttentionBlock, ...]
    # (first slot, k_lo, k_hi): keys k_lo:k_hi sit in consecutive slots, so they can be read in place;
    # None when the keys need gathering (too fragmented, or shifted keys to re-rotate)
    runs: tuple[tuple[int, int, int], ...] | None


def build_plan(
    *, page_size: int, block_tables: torch.Tensor, page_starts: torch.Tensor, page_lens: torch.Tensor,
    page_shifts: torch.Tensor | None, cu_seqlens_q: torch.Tensor, q_positions: torch.Tensor | None,
    rope_inv_freq: torch.Tensor | None,
) -> CpuAttentionPlan:
    """q_positions None: decode (each query sees every stored key of its sequence)."""
    offsets = torch.arange(page_size)
    valid = offsets[None, None, :] < page_lens.long()[:, :, None]  # (S, P, page_size)
    flat = block_tables.long()[:, :, None] * page_size + offsets  # (S, P, page_size)
    slots = flat[valid]  # (N,) sequence-major, pages in table order, slots in order
    keys_per_seq = valid.sum(dim=(1, 2)).tolist()
    positions = None
    if q_positions is not None:
        positions = (page_starts.long()[:, :, None] + offsets)[valid]  # (N,)
    shift_cos = shift_sin = None
    if page_shifts is not None and bool((page_shifts != 0).any()):
        assert rope_inv_freq is not None, "shifted pages need rope_inv_freq"
        shifts = page_shifts.long()[:, :, None].expand(valid.shape)[valid]  # (N,)
        angles = shifts.to(torch.float32)[:, None] * rope_inv_freq.to(torch.float32)[None, :]  # (N, D/2)
        emb = torch.cat((angles, angles), dim=-1)  # (N, D)
        shift_cos, shift_sin = emb.cos()[:, None, :], emb.sin()[:, None, :]  # (N, 1, D)
    bounds = cu_seqlens_q.tolist()
    blocks: list[AttentionBlock] = []
    k_lo = 0
    for seq, n_keys in enumerate(keys_per_seq):
        k_hi = k_lo + n_keys
        for q_lo in range(bounds[seq], bounds[seq + 1], QUERY_BLOCK):
            q_hi = min(q_lo + QUERY_BLOCK, bounds[seq + 1])
            if positions is None:
                blocks.append(AttentionBlock(q_lo=q_lo, q_hi=q_hi, k_lo=k_lo, k_hi=k_hi, blocked=None))
            else:
                blocks.append(_causal_block(positions[k_lo:k_hi], q_positions[q_lo:q_hi].long(), q_lo, k_lo))
        k_lo = k_hi
    return CpuAttentionPlan(slots=slots, shift_cos=shift_cos, shift_sin=shift_sin, blocks=tuple(blocks),
                            runs=None if shift_cos is not None else _slot_runs(slots))


def _slot_runs(slots: torch.Tensor) -> tuple[tuple[int, int, int], ...] | None:
    if slots.numel() == 0:
        return None
    breaks = (torch.nonzero(slots[1:] != slots[:-1] + 1).flatten() + 1).tolist()
    if len(breaks) >= MAX_RUNS:
        return None
    bounds = [0, *breaks, slots.numel()]
    firsts = slots[bounds[:-1]].tolist()
    return tuple((first, lo, hi) for first, lo, hi in zip(firsts, bounds, bounds[1:], strict=False))


def _causal_block(key_pos: torch.Tensor, q_pos: torch.Tensor, q_lo: int, k_lo: int) -> AttentionBlock:
    """The keys a block of queries may see, cut short where every later key is after every query."""
    n_keys = key_pos.shape[0]
    if n_keys and bool((key_pos[1:] >= key_pos[:-1]).all()):  # in position order (the usual layout)
        n_keys = int(torch.searchsorted(key_pos, q_pos.max(), right=True))
        key_pos = key_pos[:n_keys]
    blocked = key_pos[None, :] > q_pos[:, None]  # (n_q, n_k)
    return AttentionBlock(q_lo=q_lo, q_hi=q_lo + q_pos.shape[0], k_lo=k_lo, k_hi=k_lo + n_keys,
                          blocked=blocked if bool(blocked.any()) else None)


def gather_keys_values(
    plan: CpuAttentionPlan, k_cache: torch.Tensor, v_cache: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Float32 keys (re-rotated to their logical positions) and values [N, Hkv, D] of every sequence."""
    num_slots = k_cache.shape[0] * k_cache.shape[1]
    keys = k_cache.reshape(num_slots, *k_cache.shape[2:]).index_select(0, plan.slots)  # (N, Hkv, D)
    values = v_cache.reshape(num_slots, *v_cache.shape[2:]).index_select(0, plan.slots)
    if plan.shift_cos is not None:
        keys = keys.to(torch.float32)
        # the references round the re-rotated keys back to the cache dtype
        keys = (keys * plan.shift_cos + rotate_half(keys) * plan.shift_sin).to(k_cache.dtype)
    return keys.to(torch.float32), values.to(torch.float32)


def attend(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, plan: CpuAttentionPlan, scale: float,
) -> torch.Tensor:
    """q [T, Hq, D] -> out [T, Hq, D] over the keys the plan gathers.

    The query heads sharing a kv head are folded into the query rows, so each block is two batched
    matmuls over the kv heads (measured several times faster on CPU than scaled_dot_product_attention
    with enable_gqa, which expands the keys). Float32 keys in a few runs of consecutive slots (the
    usual layout) are read in place, one matmul per run, instead of being copied out first."""
    num_tokens, num_q_heads, head_dim = q.shape
    num_kv_heads = k_cache.shape[2]
    group = num_q_heads // num_kv_heads
    parts = _key_parts(plan, k_cache, v_cache)
    out = torch.empty_like(q)
    for block in plan.blocks:
        n_q = block.q_hi - block.q_lo
        qs = q[block.q_lo:block.q_hi].to(torch.float32) * scale  # (n_q, Hq, D)
        qs = qs.view(n_q, num_kv_heads, group, head_dim).permute(1, 2, 0, 3)  # (Hkv, group, n_q, D)
        qs = qs.reshape(num_kv_heads, group * n_q, head_dim)  # rows: group-major, then query
        pieces = [(keys_t[:, :, max(lo, block.k_lo) - lo:min(hi, block.k_hi) - lo],
                   values_h[:, max(lo, block.k_lo) - lo:min(hi, block.k_hi) - lo])
                  for lo, hi, keys_t, values_h in parts if lo < block.k_hi and hi > block.k_lo]
        scores = torch.cat([torch.bmm(qs, keys_t) for keys_t, _ in pieces], dim=-1)  # (Hkv, g * n_q, n_k)
        if block.blocked is not None:
            n_k = block.k_hi - block.k_lo
            blocked = block.blocked.expand(group, n_q, n_k).reshape(group * n_q, n_k)  # rows as in qs
            scores.masked_fill_(blocked, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        attended = None
        offset = 0
        for _, values_h in pieces:
            width = values_h.shape[1]
            share = probs[:, :, offset:offset + width]
            attended = torch.bmm(share, values_h) if attended is None else attended.baddbmm_(share, values_h)
            offset += width
        attended = attended.view(num_kv_heads, group, n_q, head_dim).permute(2, 0, 1, 3)  # (n_q, Hkv, g, D)
        out[block.q_lo:block.q_hi] = attended.reshape(n_q, num_q_heads, head_dim).to(q.dtype)
    return out


def _key_parts(
    plan: CpuAttentionPlan, k_cache: torch.Tensor, v_cache: torch.Tensor,
) -> list[tuple[int, int, torch.Tensor, torch.Tensor]]:
    """(k_lo, k_hi, keys [Hkv, D, n] float32, values [Hkv, n, D] float32) covering keys 0:N."""
    if plan.runs is not None and k_cache.dtype == torch.float32:
        flat_k = k_cache.view(-1, *k_cache.shape[2:])  # (slots, Hkv, D), no copy
        flat_v = v_cache.view(-1, *v_cache.shape[2:])
        return [(lo, hi, flat_k[first:first + hi - lo].permute(1, 2, 0),  # (Hkv, D, n)
                 flat_v[first:first + hi - lo].transpose(0, 1))  # (Hkv, n, D)
                for first, lo, hi in plan.runs]
    keys, values = gather_keys_values(plan, k_cache, v_cache)
    return [(0, keys.shape[0], keys.permute(1, 2, 0), values.transpose(0, 1))]  # (Hkv, D, N), (Hkv, N, D)
