"""The paged KV layout shared by every kernel here, and the plain-torch helpers the references use.

Layouts (one layer):
    k_cache, v_cache: [num_pages, PAGE_SIZE, num_kv_heads, head_dim]
    block_tables:     [num_seqs, max_pages] int32   physical page of each logical page (-1 unused)
    page_starts:      [num_seqs, max_pages] int32   logical (RoPE) position of slot 0 of the page
    page_lens:        [num_seqs, max_pages] int32   valid tokens in the page (0 = unused entry)
    page_shifts:      [num_seqs, max_pages] int32   logical position minus the position the page's
                                                    keys were rotated at (0 for pages computed in
                                                    place; B for a segment encoded alone and placed
                                                    at offset B)

A key in slot j of logical page p has logical position page_starts[p] + j and is valid when
j < page_lens[p]. Pages of a sequence may be partially filled anywhere in the table (a segment of
20 tokens fills one page and 4 slots of the next), which is why positions are per page and not
implied by the page index.

Position-independent pages are exact for RoPE: with q rotated at its absolute position P and k
rotated at stored position s = pos - shift, the score wanted is <R(P) q, R(pos) k> =
<R(P - shift) q, R(s) k>, so the kernels rotate the query by -shift for that page (and the
references, equivalently, rotate the stored key by +shift). Rotation uses the rotate-half
convention of Llama/Qwen with the model's inverse frequencies `rope_inv_freq` [head_dim // 2].

check_paged_inputs holds the launchers' assertions on this layout (shapes, dtypes, strides).
"""

from __future__ import annotations

import torch

PAGE_SIZE = 16


def check_paged_inputs(
    *, q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, block_tables: torch.Tensor,
    page_starts: torch.Tensor, page_lens: torch.Tensor, page_shifts: torch.Tensor | None,
    rope_inv_freq: torch.Tensor | None, num_seqs: int,
) -> None:
    """The launchers' shared checks of q [rows, Hq, D] and the paged layout of num_seqs sequences;
    page_starts is checked for shape only (decode never reads it)."""
    num_q_heads, head_dim = q.shape[1], q.shape[2]
    num_pages, page_size, num_kv_heads, k_dim = k_cache.shape
    assert page_size == PAGE_SIZE and k_dim == head_dim and v_cache.shape == k_cache.shape
    assert num_q_heads % num_kv_heads == 0, "num_q_heads must be a multiple of num_kv_heads"
    assert head_dim >= 16 and head_dim & (head_dim - 1) == 0, "head_dim must be a power of two >= 16"
    assert q.dtype == k_cache.dtype == v_cache.dtype, "q and the caches must share a dtype"
    assert q.stride(2) == 1 and k_cache.stride(3) == 1 and v_cache.stride(3) == 1
    assert block_tables.dtype == page_lens.dtype == torch.int32
    assert block_tables.shape == page_lens.shape == page_starts.shape
    assert block_tables.shape[0] == num_seqs
    assert block_tables.stride() == page_lens.stride() and block_tables.stride(1) == 1
    if page_shifts is not None:
        assert rope_inv_freq is not None, "shifted pages need rope_inv_freq"
        assert page_shifts.dtype == torch.int32 and page_shifts.stride() == block_tables.stride()
        assert rope_inv_freq.shape == (head_dim // 2,) and head_dim >= 32


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rotate_by(x: torch.Tensor, shift: torch.Tensor, inv_freq: torch.Tensor) -> torch.Tensor:
    """Rotate x [..., N, H, D] by RoPE angle shift[N] * inv_freq (rotate-half convention)."""
    angles = shift.to(torch.float32)[:, None] * inv_freq.to(torch.float32)[None, :]  # (N, D/2)
    emb = torch.cat((angles, angles), dim=-1)  # (N, D)
    cos = emb.cos()[:, None, :]  # (N, 1, D)
    sin = emb.sin()[:, None, :]
    xf = x.to(torch.float32)
    return (xf * cos + rotate_half(xf) * sin).to(x.dtype)


def gather_sequence_kv(
    *,
    seq: int,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    page_starts: torch.Tensor,
    page_lens: torch.Tensor,
    page_shifts: torch.Tensor | None,
    rope_inv_freq: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Valid keys (re-rotated to their logical positions), values and logical positions of one
    sequence: ([n, Hkv, D], [n, Hkv, D], [n])."""
    lens = page_lens[seq]
    used = torch.nonzero(lens > 0).flatten()
    pages = block_tables[seq, used].long()
    n_valid = lens[used].long()
    offsets = torch.arange(k_cache.shape[1], device=k_cache.device)
    mask = offsets[None, :] < n_valid[:, None]  # (pages, PAGE_SIZE)
    keys = k_cache[pages][mask]  # (n, Hkv, D)
    values = v_cache[pages][mask]
    positions = (page_starts[seq, used].long()[:, None] + offsets[None, :])[mask]  # (n,)
    if page_shifts is not None:
        shifts = page_shifts[seq, used].long()[:, None].expand(-1, k_cache.shape[1])[mask]
        if bool((shifts != 0).any()):
            assert rope_inv_freq is not None, "shifted pages need rope_inv_freq"
            keys = rotate_by(keys, shifts, rope_inv_freq)
    return keys, values, positions
