"""Triton helpers shared by the paged kernels: loading the query rows, locating one tile of keys
in the page pool, computing its attention scores (with in-kernel RoPE re-rotation for shifted
pages) and folding the tile into the online softmax; plus the host-side pieces of their launchers
(SM count, split sizes, dot precision). The split-K merge is codepager.kernels.split_merge.

A tile is PAGES_PER_TILE consecutive entries of one sequence's block table, i.e.
BLOCK_N = PAGES_PER_TILE * PAGE_SIZE key slots; slot j of table entry p is valid when
j < page_lens[p]. Shifted pages: the scores wanted are <R(-shift) q, k> (see paged_layout); a tile
may mix pages of different shifts, so decode rotates each key by +shift instead, which is the same
number and keeps one tl.dot per tile (extend, with up to 128 query rows against each tile, rotates
the query once per run of equal shifts instead: codepager.kernels.shift_runs).
"""

import torch

from codepager.kernels.triton_import import tl, triton


@triton.jit
def load_query_rows(q_rows, row_ok, ROWS: tl.constexpr, HEAD_DIM: tl.constexpr, HAS_SHIFT: tl.constexpr):
    """(q, q_lo, q_hi) as tile_scores takes them, from q_rows [ROWS] pointers to each query row
    (rows where row_ok is false read as zeros): with shifts q is unused zeros [ROWS, D] and q_lo /
    q_hi are the halves [ROWS, D/2]; without, all three are q [ROWS, D]."""
    d = tl.arange(0, HEAD_DIM)
    half = tl.arange(0, HEAD_DIM // 2)
    if HAS_SHIFT:
        q = tl.zeros([ROWS, HEAD_DIM], dtype=q_rows.dtype.element_ty)
        q_lo = tl.load(q_rows[:, None] + half[None, :], mask=row_ok[:, None], other=0.0)
        q_hi = tl.load(q_rows[:, None] + (HEAD_DIM // 2) + half[None, :], mask=row_ok[:, None], other=0.0)
    else:
        q = tl.load(q_rows[:, None] + d[None, :], mask=row_ok[:, None], other=0.0)
        q_lo = q
        q_hi = q
    return q, q_lo, q_hi


@triton.jit
def tile_slots(
    table_row_ptr, lens_row_ptr, first_entry, end_entry,
    PAGE_SIZE: tl.constexpr, PAGES_PER_TILE: tl.constexpr,
):
    """Per key slot of the tile: (table entry index [BLOCK_N], physical page int64, slot, valid)."""
    n = tl.arange(0, PAGES_PER_TILE * PAGE_SIZE)
    entry = first_entry + n // PAGE_SIZE
    slot = n % PAGE_SIZE
    in_table = entry < end_entry
    page = tl.load(table_row_ptr + entry, mask=in_table, other=0).to(tl.int64)
    length = tl.load(lens_row_ptr + entry, mask=in_table, other=0)
    valid = in_table & (slot < length)
    return entry, page, slot, valid


@triton.jit
def load_keys(key_ptrs, valid, HEAD_DIM: tl.constexpr, HAS_SHIFT: tl.constexpr):
    """One tile's keys as scores_of takes them: (k, k) [BLOCK_N, D] without shifts, (k_lo, k_hi)
    [BLOCK_N, D/2] with. key_ptrs [BLOCK_N] points at the first element of each key row."""
    if HAS_SHIFT:
        half = tl.arange(0, HEAD_DIM // 2)
        k_a = tl.load(key_ptrs[:, None] + half[None, :], mask=valid[:, None], other=0.0)
        k_b = tl.load(key_ptrs[:, None] + (HEAD_DIM // 2) + half[None, :], mask=valid[:, None], other=0.0)
    else:
        d = tl.arange(0, HEAD_DIM)
        k_a = tl.load(key_ptrs[:, None] + d[None, :], mask=valid[:, None], other=0.0)
        k_b = k_a
    return k_a, k_b


@triton.jit
def scores_of(
    q, q_lo, q_hi, k_a, k_b, page_shift, inv_freq_ptr,
    HEAD_DIM: tl.constexpr, PAGE_SIZE: tl.constexpr, PAGES_PER_TILE: tl.constexpr,
    HAS_SHIFT: tl.constexpr, DOT_PRECISION: tl.constexpr,
):
    """Raw scores q . k for one tile of loaded keys (load_keys): [ROWS, BLOCK_N] fp32.

    q [ROWS, D] is used without shifts; with shifts q_lo / q_hi are its two halves [ROWS, D/2] and
    each key is rotated by its page's shift page_shift [PAGES_PER_TILE] (rotate-half convention)
    before the dot.
    """
    if HAS_SHIFT:
        half = tl.arange(0, HEAD_DIM // 2)
        freq = tl.load(inv_freq_ptr + half).to(tl.float32)
        # sin/cos once per page, not per key: they dominate the tile's arithmetic otherwise
        angle = page_shift.to(tl.float32)[:, None] * freq[None, :]  # (PAGES_PER_TILE, D/2)
        slots_shape: tl.constexpr = (PAGES_PER_TILE, PAGE_SIZE, HEAD_DIM // 2)
        tile_shape: tl.constexpr = (PAGES_PER_TILE * PAGE_SIZE, HEAD_DIM // 2)
        cos = tl.reshape(tl.broadcast_to(tl.cos(angle)[:, None, :], slots_shape), tile_shape)
        sin = tl.reshape(tl.broadcast_to(tl.sin(angle)[:, None, :], slots_shape), tile_shape)
        lo = k_a.to(tl.float32)
        hi = k_b.to(tl.float32)
        rot_lo = (lo * cos - hi * sin).to(k_a.dtype)
        rot_hi = (hi * cos + lo * sin).to(k_a.dtype)
        scores = tl.dot(q_lo, tl.trans(rot_lo), input_precision=DOT_PRECISION)
        scores += tl.dot(q_hi, tl.trans(rot_hi), input_precision=DOT_PRECISION)
    else:
        scores = tl.dot(q, tl.trans(k_a), input_precision=DOT_PRECISION)
    return scores


@triton.jit
def tile_scores(
    q, q_lo, q_hi, key_ptrs, valid, page_shift, inv_freq_ptr,
    HEAD_DIM: tl.constexpr, PAGE_SIZE: tl.constexpr, PAGES_PER_TILE: tl.constexpr,
    HAS_SHIFT: tl.constexpr, DOT_PRECISION: tl.constexpr,
):
    """Raw scores q . k for one tile (scores_of of the keys at key_ptrs): [ROWS, BLOCK_N] fp32."""
    k_a, k_b = load_keys(key_ptrs, valid, HEAD_DIM, HAS_SHIFT)
    return scores_of(q, q_lo, q_hi, k_a, k_b, page_shift, inv_freq_ptr,
                     HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, HAS_SHIFT, DOT_PRECISION)


@triton.jit
def accumulate_values(scores, m_i, l_i, acc, v, DOT_PRECISION: tl.constexpr):
    """One online-softmax step: fold a tile's scores [ROWS, BLOCK_N] (scaled to log2 units, -inf
    where not allowed) and its loaded values v [BLOCK_N, D] into the running max m_i [ROWS], sum
    l_i [ROWS] and output acc [ROWS, D]."""
    m_new = tl.maximum(m_i, tl.max(scores, axis=1))
    m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
    alpha = tl.exp2(m_i - m_safe)
    p = tl.exp2(scores - m_safe[:, None])
    l_i = l_i * alpha + tl.sum(p, axis=1)
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PRECISION)
    return m_new, l_i, acc


@triton.jit
def accumulate_tile(
    scores, m_i, l_i, acc, value_ptrs, valid,
    HEAD_DIM: tl.constexpr, DOT_PRECISION: tl.constexpr,
):
    """accumulate_values with the values at value_ptrs [BLOCK_N] (first element of each row)."""
    d = tl.arange(0, HEAD_DIM)
    v = tl.load(value_ptrs[:, None] + d[None, :], mask=valid[:, None], other=0.0)
    return accumulate_values(scores, m_i, l_i, acc, v, DOT_PRECISION)


@triton.jit
def fold_slots(
    q, q_lo, q_hi, q_pos, m_i, l_i, acc, k_ptr, v_ptr, entry, page, slot, valid, page_shift,
    starts_row, inv_freq_ptr, kv_head, scale_log2,
    stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot, stride_v_head,
    HEAD_DIM: tl.constexpr, PAGE_SIZE: tl.constexpr, PAGES_PER_TILE: tl.constexpr,
    HAS_SHIFT: tl.constexpr, DOT_PRECISION: tl.constexpr, CAUSAL: tl.constexpr,
):
    """Fold one located tile of keys (tile_slots' entry / page / slot / valid [BLOCK_N], the page
    shifts [PAGES_PER_TILE]) into the online softmax of the rows q (see tile_scores for q / q_lo /
    q_hi); CAUSAL masks keys after each row's position q_pos (without it q_pos, entry and starts_row
    are not read). Returns the new (m_i, l_i, acc)."""
    key_ptrs = k_ptr + page * stride_k_page + slot * stride_k_slot + kv_head * stride_k_head
    scores = tile_scores(q, q_lo, q_hi, key_ptrs, valid, page_shift, inv_freq_ptr,
                         HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, HAS_SHIFT, DOT_PRECISION)
    if CAUSAL:
        key_pos = tl.load(starts_row + entry, mask=valid, other=0) + slot
        allowed = valid[None, :] & (key_pos[None, :] <= q_pos[:, None])  # (BLOCK_M, BLOCK_N)
    else:
        allowed = valid[None, :]
    scores = tl.where(allowed, scores * scale_log2, float("-inf"))
    value_ptrs = v_ptr + page * stride_v_page + slot * stride_v_slot + kv_head * stride_v_head
    return accumulate_tile(scores, m_i, l_i, acc, value_ptrs, valid, HEAD_DIM, DOT_PRECISION)


@triton.jit
def fold_tile(
    q, q_lo, q_hi, q_pos, m_i, l_i, acc, k_ptr, v_ptr, table_row, lens_row, starts_row, shifts_row,
    inv_freq_ptr, entry0, end, kv_head, scale_log2,
    stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot, stride_v_head,
    HEAD_DIM: tl.constexpr, PAGE_SIZE: tl.constexpr, PAGES_PER_TILE: tl.constexpr,
    HAS_SHIFT: tl.constexpr, DOT_PRECISION: tl.constexpr, CAUSAL: tl.constexpr,
):
    """fold_slots of the tile of table entries entry0.. below end, located from the block table."""
    entry, page, slot, valid = tile_slots(table_row, lens_row, entry0, end, PAGE_SIZE, PAGES_PER_TILE)
    page_shift = tl.zeros([PAGES_PER_TILE], dtype=tl.int32)
    if HAS_SHIFT:
        page_entry = entry0 + tl.arange(0, PAGES_PER_TILE)
        page_shift = tl.load(shifts_row + page_entry, mask=page_entry < end, other=0)
    return fold_slots(q, q_lo, q_hi, q_pos, m_i, l_i, acc, k_ptr, v_ptr, entry, page, slot, valid,
                      page_shift, starts_row, inv_freq_ptr, kv_head, scale_log2,
                      stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot,
                      stride_v_head, HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, HAS_SHIFT, DOT_PRECISION, CAUSAL)


@triton.jit
def fold_tiles(
    q, q_pos, m_i, l_i, acc, k_ptr, v_ptr, table_row, lens_row, starts_row, first, end, kv_head,
    scale_log2, stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot, stride_v_head,
    HEAD_DIM: tl.constexpr, PAGE_SIZE: tl.constexpr, PAGES_PER_TILE: tl.constexpr,
    DOT_PRECISION: tl.constexpr, CAUSAL: tl.constexpr,
):
    """fold_tile over the unshifted pages of table entries [first, end), tile after tile (the last
    one masked at end) with q [ROWS, D] as it is. Returns the new (m_i, l_i, acc)."""
    for entry0 in range(first, end, PAGES_PER_TILE):
        m_i, l_i, acc = fold_tile(
            q, q, q, q_pos, m_i, l_i, acc, k_ptr, v_ptr, table_row, lens_row, starts_row,
            lens_row, lens_row, entry0, end, kv_head, scale_log2,  # no shifts: those two are unread
            stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot, stride_v_head,
            HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, False, DOT_PRECISION, CAUSAL)
    return m_i, l_i, acc


_SM_COUNT: dict[int, int] = {}


def device_sm_count(device: torch.device) -> int:
    """Streaming multiprocessors of a CUDA device (cached: asked once per device); 132 (an H100)
    elsewhere, so the interpreter takes the same split decisions."""
    if device.type != "cuda":
        return 132
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _SM_COUNT:
        _SM_COUNT[index] = torch.cuda.get_device_properties(index).multi_processor_count
    return _SM_COUNT[index]


def even_splits(num_entries: int, num_splits: int, tile: int = 1) -> tuple[int, int]:
    """(table entries per split, number of splits) for about num_splits contiguous ranges of a
    block table, none left empty by rounding, each a whole number of `tile` entries where the
    table has that many (a split of 9 pages in tiles of 4 walks 3 tiles, the last of 1 page)."""
    entries_per_split = triton.cdiv(num_entries, num_splits)
    if entries_per_split > tile:
        entries_per_split = triton.cdiv(entries_per_split, tile) * tile
    return entries_per_split, triton.cdiv(num_entries, entries_per_split)


def dot_precision(dtype: torch.dtype) -> str:
    """fp32 inputs are compared with fp32 references: keep them exact instead of tf32."""
    return "ieee" if dtype == torch.float32 else "tf32"
