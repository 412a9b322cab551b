"""Decode bursts replayed as one CUDA graph each: K greedy decode steps of the same rows.

A burst's steps differ only in data the host knows up front (positions, slots, page lens: see
decode_burst.py) and in their input ids, each the argmax of the step before. So the graph of a
burst holds all K steps back to back, each reading its own slice of a step buffer and ending with
lm_head and the argmax written into the next step's ids: one host-to-device copy per tensor kind
stages the whole burst, one launch runs it, and no copy or launch gap sits between its steps.

Device buffers (compact per (batch B, pages P) bucket, as the graphs of that bucket read them):
    tokens: [K + 1, 3, B] int64   ids, positions, slots of step k (ids of step k > 0 and the extra
                                  last row: the argmax of step k - 1, written by the graph)
    pages:  [K, 4, B, P] int32    block tables, page starts, page lens, page shifts of step k
Graphs are keyed by (B, P, shifted pages, the model's decode kernels, K). The buffers grow (to a
power of two of elements) when a burst needs more; graphs captured on the old ones are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq

import torch

from codepager.engine.decode_burst import BurstPlan
from codepager.engine.graph_steps import capture, step_inputs
from codepager.model.decoder import CausalLM


class BurstGraphs:
    def __init__(
        self, model: CausalLM, kv_caches: Seq[tuple[torch.Tensor, torch.Tensor]], *,
        pool: tuple[int, int], cu_seqlens: torch.Tensor, q_positions: torch.Tensor,
    ) -> None:
        self.model = model
        self.kv_caches = list(kv_caches)
        self._device = cu_seqlens.device
        self._tokens = torch.zeros(0, dtype=torch.int64, device=self._device)
        self._pages = torch.zeros(0, dtype=torch.int32, device=self._device)
        # pinned staging in two sets: a burst ahead stages into one while the copies of the running
        # burst may still read the other
        self._staging: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._copied = (torch.cuda.Event(), torch.cuda.Event())
        self._set = 0
        self._cu_seqlens = cu_seqlens
        self._q_positions = q_positions
        self._pool = pool
        self._graphs: dict[tuple[int, int, bool, str, int], torch.cuda.CUDAGraph] = {}

    @property
    def num_graphs(self) -> int:
        return len(self._graphs)

    def clear(self) -> None:
        self._graphs.clear()

    def run(self, plan: BurstPlan, batch: int, pages: int, first_ids: torch.Tensor | None, *,
            capture: bool = True) -> tuple[torch.Tensor, torch.cuda.CUDAGraph] | None:
        """Greedy tokens [steps, plan.batch] (on the device, not synchronised) of the plan's steps
        padded to (batch, pages), and the graph replayed; first_ids [plan.batch] on the device
        replaces the plan's step-0 ids (a burst ahead). None, with nothing launched, when the
        graph is not captured yet and capture is False."""
        key = (batch, pages, plan.has_shift, self.model.decode_kernels, plan.steps)
        if not capture and key not in self._graphs:
            return None
        n, steps = plan.batch, plan.steps
        token_count, page_count = steps * 3 * batch, steps * 4 * batch * pages
        self._fit((steps + 1) * 3 * batch, page_count)
        self._set ^= 1
        (tokens_pinned, pages_pinned), copied = self._staging[self._set], self._copied[self._set]
        copied.synchronize()  # the copies of the burst before last have left this set
        tokens_np = tokens_pinned.numpy()[:token_count].reshape(steps, 3, batch)
        pages_np = pages_pinned.numpy()[:page_count].reshape(steps, 4, batch, pages)
        for step in range(steps):
            plan.stage(step, tokens_np[step], pages_np[step])
        self._tokens[:token_count].copy_(tokens_pinned[:token_count], non_blocking=True)
        self._pages[:page_count].copy_(pages_pinned[:page_count], non_blocking=True)
        copied.record()
        tokens, _ = self._views(batch, pages, steps)
        if first_ids is not None:
            tokens[0, 0, :n].copy_(first_ids)
        graph = self._graphs.get(key)
        if graph is None:  # captured from this burst's inputs, as the single-step graphs are
            graph = self._graphs[key] = self._capture(batch, pages, plan.has_shift, steps)
        graph.replay()
        return tokens[1:, 0, :n].clone(), graph  # each step's argmax: the ids of the step after

    def _fit(self, token_count: int, page_count: int) -> None:
        if token_count <= self._tokens.numel() and page_count <= self._pages.numel():
            return
        torch.cuda.current_stream(self._device).synchronize()  # nothing may still use the old ones
        self._graphs.clear()
        tokens = 1 << (max(token_count, self._tokens.numel()) - 1).bit_length()
        pages = 1 << (max(page_count, self._pages.numel()) - 1).bit_length()
        self._tokens = torch.zeros(tokens, dtype=torch.int64, device=self._device)
        self._pages = torch.zeros(pages, dtype=torch.int32, device=self._device)
        self._staging = [(torch.zeros(tokens, dtype=torch.int64, pin_memory=True),
                          torch.zeros(pages, dtype=torch.int32, pin_memory=True)) for _ in range(2)]

    def _views(self, batch: int, pages: int, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self._tokens[: (steps + 1) * 3 * batch].view(steps + 1, 3, batch)
        arrays = self._pages[: steps * 4 * batch * pages].view(steps, 4, batch, pages)
        return tokens, arrays

    def _steps(self, batch: int, pages: int, has_shift: bool, steps: int) -> None:
        tokens, arrays = self._views(batch, pages, steps)
        for step in range(steps):
            ids, positions, meta = step_inputs(tokens[step], arrays[step], has_shift=has_shift,
                                               cu_seqlens=self._cu_seqlens, q_positions=self._q_positions)
            hidden = self.model(ids, positions, meta, self.kv_caches)  # (B, hidden)
            self.model.greedy_tokens(hidden, out=tokens[step + 1, 0])

    def _capture(self, batch: int, pages: int, has_shift: bool, steps: int) -> torch.cuda.CUDAGraph:
        graph, _ = capture(lambda: self._steps(batch, pages, has_shift, steps), pool=self._pool,
                           device=self._device)
        return graph
