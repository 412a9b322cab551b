"""Paged extend over shifted pages (position-independent segments) against the same extend over
plain pages and against SDPA, under both shipped tile configurations (EXTEND_CONFIGS). Shifted
pages come in two kinds: every page shifted by 0 (one run of equal shifts: the rotation runs, the
result equals the plain one) and a new shift every 24 pages (384 tokens, about one indexed
segment), where each run rotates the query again. Timing as in benchmarks/kernels.py (steady state
in a CUDA graph); SDPA is timed once per shape on the contiguous K/V. Prints one line per shape: µs
and paged/SDPA per variant (page kind, pages per tile).

    python benchmarks/extend_shifted.py
"""

from __future__ import annotations

import itertools

import torch
from gpu_timing import steady_ms  # benchmarks/ on sys.path

from codepager.kernels.paged_extend import EXTEND_CONFIGS, paged_extend
from kernels import CACHED, HEAD_DIM, PagedKV, causal_lower_right_sdpa, extend_inputs

# (page kind, the shipped extend configuration it runs with)
VARIANTS = [("plain", "cuda"), ("shift0", "cuda_narrow"), ("shift0", "cuda"), ("runs24", "cuda_narrow"),
            ("runs24", "cuda")]
SHAPES = [(hq, hkv, new) for (hq, hkv), new in itertools.product([(12, 2), (32, 8)], [32, 512, 2048])]
RUN_PAGES = 24


def shifted_layout(kv: PagedKV, kind: str, inv_freq: torch.Tensor) -> dict:
    """kv's layout with page shifts of the given kind ("plain": none)."""
    layout = kv.layout()
    if kind == "shift0":
        layout["page_shifts"] = torch.zeros_like(kv.page_starts)
    elif kind == "runs24":
        entry = torch.arange(kv.page_starts.shape[1], device="cuda", dtype=torch.int32)
        layout["page_shifts"] = ((entry // RUN_PAGES) * 7 + 1).expand_as(kv.page_starts).contiguous()
    if kind != "plain":
        layout["rope_inv_freq"] = inv_freq
    return layout


def shape_line(hq: int, hkv: int, new: int, gen: torch.Generator, inv_freq: torch.Tensor) -> str:
    """SDPA's time and each variant's (µs, paged/SDPA) on one shape."""
    cu, pos, copies = extend_inputs(hq, hkv, new, gen)

    def sdpa_call(kv, q):
        q4 = q.transpose(0, 1)[None].contiguous()  # (1, Hq, new, D)
        return lambda: causal_lower_right_sdpa(q4, kv.k, kv.v)

    def paged_call(kv, q, kind, config):
        layout = shifted_layout(kv, kind, inv_freq)
        return lambda: paged_extend(q=q, cu_seqlens_q=cu, q_positions=pos, max_seqlen_q=new,
                                    config=config, **layout)

    sdpa = steady_ms([sdpa_call(*c) for c in copies])
    line = f"{hq}q/{hkv}kv {new:5d} new: sdpa {sdpa * 1e3:8.1f} us"
    for kind, name in VARIANTS:
        config = EXTEND_CONFIGS[name]
        ms = steady_ms([paged_call(*c, kind, config) for c in copies])
        line += f" | {kind} {config['pages_per_tile']}p {ms * 1e3:7.1f} us ({ms / sdpa:.3f})"
    return line


def main() -> int:
    gen = torch.Generator(device="cuda").manual_seed(0)
    inv_freq = 1.0 / (10000 ** (torch.arange(0, HEAD_DIM, 2, device="cuda", dtype=torch.float32) / HEAD_DIM))
    print(torch.cuda.get_device_name(), f"{CACHED} cached tokens, bf16, head_dim {HEAD_DIM}")
    for hq, hkv, new in SHAPES:
        print(shape_line(hq, hkv, new, gen, inv_freq), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
