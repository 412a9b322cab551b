"""Launch configurations of the paged decode kernel (codepager.kernels.paged_decode) and its split
count heuristic, as data measured on an H100 (benchmarks/decode_probe.py --sweep, docs/benchmarks.md).
"""

# Launch configurations as data, by platform and launch: tiles (pages per tile, num_warps,
# num_stages); whether the merge is launched as a programmatic dependent of the split kernel even
# when the split kernel itself is launched plainly (its programs are resident before the split
# kernel ends); and up to how many table entries a split reads into registers before its loop
# (table_ahead; longer splits walk the table tile by tile, which leaves each tile's keys and values
# in one buffer). Chained by PDL (the engine's decode steps of <= 4 rows) the split kernel keeps the
# configuration it was tuned with end to end: the plain one made the engine's decode slower there
# (1.5b, 16k: 1.79 vs 1.74 ms a token in one run; docs/benchmarks.md).
DECODE_CONFIGS = {
    "cuda": {"pages_per_tile": 2, "num_warps": 2, "num_stages": 3, "merge_pdl": True, "table_ahead": 256},
    "cuda_chained": {"pages_per_tile": 4, "num_warps": 4, "num_stages": 2, "merge_pdl": True,
                     "table_ahead": 0},
    "interpreter": {"pages_per_tile": 2, "num_warps": 4, "num_stages": 1, "merge_pdl": False,
                    "table_ahead": 256},
}
MIN_ENTRIES_PER_SPLIT = 4  # 64 tokens: below this the merge costs more than the parallelism gains
# (split programs per SM aimed at, programs resident per SM, most splits), by launch (chained?).
# Launched plainly, two programs per SM stream fastest with the "cuda" configuration (five fit in
# shared memory) and up to 256 splits are merged in one pass (split_merge.MAX_SPLIT_BLOCK). Chained,
# a full wave of the "cuda_chained" configuration (four fit by registers), at most 128 splits.
# H100, 1x32k plain: 12q/2kv 17.6 us, 28q/4kv 29.9, 32q/8kv 51.8 (benchmarks/decode_probe.py --sweep).
SPLIT_TARGETS = {False: (2, 5, 256), True: (4, 4, 128)}


def decode_num_splits(*, num_seqs: int, num_kv_heads: int, num_entries: int, sm_count: int,
                      chained: bool = False) -> int:
    """About SPLIT_TARGETS[chained]'s (sequence, kv head, split) programs per SM, never more than
    one wave of resident programs (a second, mostly empty wave would double the time), never
    splits shorter than MIN_ENTRIES_PER_SPLIT pages nor more than the target's cap. Depends on
    shapes only, so a captured graph stays valid."""
    per_sm, resident, max_splits = SPLIT_TARGETS[chained]
    pairs = num_seqs * num_kv_heads
    wanted = min(round(per_sm * sm_count / pairs), (resident * sm_count) // pairs)
    return max(1, min(wanted, num_entries // MIN_ENTRIES_PER_SPLIT, max_splits))
