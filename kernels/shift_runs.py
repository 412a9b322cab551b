"""Shifted pages folded run by run: the block table is cut into runs of consecutive entries with one
RoPE shift (a position-independent segment's pages all share one), and each run's keys are scored
against the query rotated once by -shift, <R(-shift) q, k> = <q, R(shift) k> (see paged_layout),
instead of rotating every key tile. Inside a run the tiles go through the unshifted fold (fold_tiles), so a
shifted extend streams its keys like an unshifted one; what a run adds is one query rotation, a scan
of the shifts for the run's end, and one pipeline start.

Layouts as in codepager.kernels.paged_tiles; q_rows [ROWS] points at each query row's first element.
"""

from codepager.kernels.paged_tiles import fold_tiles, load_query_rows
from codepager.kernels.triton_import import tl, triton


@triton.jit
def load_rotated_query(q_rows, row_ok, shift, inv_freq_ptr, ROWS: tl.constexpr, HEAD_DIM: tl.constexpr):
    """q [ROWS, D] rotated by -shift (rotate-half convention), in q's dtype; rows where row_ok is
    false read as zeros."""
    _, lo, hi = load_query_rows(q_rows, row_ok, ROWS, HEAD_DIM, True)  # the halves (ROWS, D/2)
    half = tl.arange(0, HEAD_DIM // 2)
    angle = shift.to(tl.float32) * tl.load(inv_freq_ptr + half).to(tl.float32)  # (D/2,)
    cos = tl.cos(angle)[None, :]
    sin = tl.sin(angle)[None, :]
    lo32 = lo.to(tl.float32)
    hi32 = hi.to(tl.float32)
    rot_lo = (lo32 * cos + hi32 * sin).to(lo.dtype)
    rot_hi = (hi32 * cos - lo32 * sin).to(lo.dtype)
    # (ROWS, D/2, 2) -> (ROWS, 2, D/2) -> (ROWS, D): the halves side by side again
    return tl.reshape(tl.permute(tl.join(rot_lo, rot_hi), (0, 2, 1)), (ROWS, HEAD_DIM))


@triton.jit
def shift_run_end(shifts_row, lens_row, run_first, end, SEARCH_BLOCK: tl.constexpr):
    """The first entry after run_first, below end, of a valid page (page_lens > 0) whose shift
    differs from run_first's; end if there is none. Empty entries never end a run."""
    shift = tl.load(shifts_row + run_first)
    run_end = end
    block0 = run_first + 1
    while block0 < run_end:
        entries = block0 + tl.arange(0, SEARCH_BLOCK)
        in_range = entries < run_end
        other = tl.load(shifts_row + entries, mask=in_range, other=0)
        length = tl.load(lens_row + entries, mask=in_range, other=0)
        ends = in_range & (length > 0) & (other != shift)
        run_end = tl.minimum(run_end, tl.min(tl.where(ends, entries, run_end)))
        block0 += SEARCH_BLOCK
    return shift, run_end


@triton.jit
def fold_shift_runs(
    q_rows, row_ok, q_pos, m_i, l_i, acc, k_ptr, v_ptr, table_row, lens_row, starts_row, shifts_row,
    inv_freq_ptr, first, end, kv_head, scale_log2,
    stride_k_page, stride_k_slot, stride_k_head, stride_v_page, stride_v_slot, stride_v_head,
    ROWS: tl.constexpr, HEAD_DIM: tl.constexpr, PAGE_SIZE: tl.constexpr, PAGES_PER_TILE: tl.constexpr,
    DOT_PRECISION: tl.constexpr, CAUSAL: tl.constexpr, SEARCH_BLOCK: tl.constexpr,
):
    """fold_tile over table entries [first, end) of shifted pages, run by run (see the module
    docstring); a run's last tile masks the entries past it. Returns the new (m_i, l_i, acc)."""
    run_first = first
    while run_first < end:
        shift, run_end = shift_run_end(shifts_row, lens_row, run_first, end, SEARCH_BLOCK)
        q = load_rotated_query(q_rows, row_ok, shift, inv_freq_ptr, ROWS, HEAD_DIM)
        m_i, l_i, acc = fold_tiles(
            q, q_pos, m_i, l_i, acc, k_ptr, v_ptr, table_row, lens_row, starts_row, run_first, run_end,
            kv_head, scale_log2, stride_k_page, stride_k_slot, stride_k_head, stride_v_page,
            stride_v_slot, stride_v_head, HEAD_DIM, PAGE_SIZE, PAGES_PER_TILE, DOT_PRECISION, CAUSAL)
        run_first = run_end
    return m_i, l_i, acc
