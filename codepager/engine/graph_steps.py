"""Pieces shared by the decode graphs of single steps (cuda_graphs.py) and of bursts
(burst_graphs.py): one step's inputs read from static buffers, and capturing a step function as a
CUDA graph after a warm-up run."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

from codepager.model.attention_backend import AttentionMetadata

T = TypeVar("T")


def step_inputs(
    tokens: torch.Tensor, arrays: torch.Tensor, *, has_shift: bool, cu_seqlens: torch.Tensor,
    q_positions: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, AttentionMetadata]:
    """(input ids, positions, metadata) of a decode step whose rows are staged as tokens [3, B]
    (ids, positions, slots) and arrays [4, B, P] (block tables, page starts, page lens, shifts)."""
    ids, positions, slots = tokens  # each (B,)
    tables, starts, lens, shifts = arrays  # each (B, P)
    batch = ids.shape[0]
    meta = AttentionMetadata(
        slot_mapping=slots, block_tables=tables, page_starts=starts, page_lens=lens,
        page_shifts=shifts if has_shift else None, cu_seqlens_q=cu_seqlens[: batch + 1],
        q_positions=q_positions[:batch], is_decode=True,
    )
    return ids, positions, meta


def capture(
    run: Callable[[], T], *, pool: tuple[int, int], device: torch.device,
) -> tuple[torch.cuda.CUDAGraph, T]:
    """run() once outside the capture (Triton compiles and loads the kernels of these shapes; it
    computes what the replay computes from the same inputs, K/V stores included), then captured
    into a graph of the shared pool; the graph and what the captured run returned."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        run()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, pool=pool, capture_error_mode="thread_local"):
        result = run()
    return graph, result
