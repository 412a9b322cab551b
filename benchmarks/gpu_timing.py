"""Steady-state GPU timing and the report helpers shared by the kernel benchmarks.

A kernel is timed as an engine runs it layer after layer: a CUDA graph of back-to-back calls cycling
over enough copies of the inputs that they cannot stay in the 50 MB L2 (at least 4x its size), timed
with triton.testing.do_bench (median), divided by the calls per graph. (do_bench alone flushes L2
by writing 256 MB before each call; the dirty lines it leaves are written back during the timed
call, which charges small kernels for traffic that is not theirs.)
"""

from __future__ import annotations

import torch

L2_BYTES = 50 * 2**20
MIN_CALLS_PER_GRAPH = 8


def median_ms(fn, *, warmup: int = 25, rep: int = 200) -> float:
    from triton.testing import do_bench

    return do_bench(fn, warmup=warmup, rep=rep, return_mode="median")


def copies_needed(input_bytes: int) -> int:
    """Input copies whose total is at least 4x the L2."""
    return max(1, -(-4 * L2_BYTES // input_bytes))


def steady_ms(fns: list, *, rep: int = 200) -> float:
    """Median time of one call when fns (one per input copy) run back to back in a CUDA graph."""
    calls = len(fns) * -(-MIN_CALLS_PER_GRAPH // len(fns))
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for fn in fns:
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for i in range(calls):
            fns[i % len(fns)]()
    return median_ms(graph.replay, warmup=max(5, rep // 8), rep=rep) / calls


def copy_bandwidth(dtype: torch.dtype = torch.bfloat16) -> float:
    """Bytes read + written per second by a 1 GiB device-to-device copy."""
    src = torch.randn(2**29, device="cuda", dtype=dtype)
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src))
    return 2 * src.numel() * src.element_size() / (ms * 1e-3)


def markdown(rows: list[dict]) -> str:
    """A markdown table of dict rows (the first row's keys are the columns)."""
    cols = list(rows[0])
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def report(text: str, markdown_path: str | None) -> None:
    """Print the tables and write them to markdown_path too, when given."""
    print(text)
    if markdown_path:
        with open(markdown_path, "w", encoding="utf-8") as handle:
            handle.write(text)
