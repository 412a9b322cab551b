"""Steps replayed from CUDA graphs: one graph per (rows bucket, pages bucket, shifted pages).

A step launches a few hundred small kernels; on the host that costs far more than the GPU work of
a decode step or of a short extend (the few tokens typed after a prefix-cache hit). As a graph it
is one launch. Every computed token is one row that the paged decode kernel serves with its page
lens clipped at its own position (see decode_batch), so decode steps and short extends share the
same graphs; longer chunks (prefill) stay eager. Inputs live in static device buffers that each
graph reads: input ids, positions and slot mapping ([3, B] int64) and block tables, page starts,
page lens and page shifts ([4, B, P] int32). Rows are padded to a captured count (padding rows
store nothing and see no keys) and block tables to a pages bucket (padding entries hold no valid
keys). All buffers of one (B, P) are a contiguous prefix of one allocation, so the host fills a
pinned staging copy and sends it with one copy per tensor kind. The decode kernel reads no tensor
data on the host and sizes its workspace from shapes alone, which is what makes the step
capturable. The model's output ([B, hidden]) is a static tensor overwritten by the next replay:
callers consume it within the step.

A decode burst (decode_burst.py) is one graph of its K steps with one host synchronisation
(burst_graphs.py).
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass

import torch

from codepager.engine.burst_graphs import BurstGraphs
from codepager.engine.config import EngineConfig
from codepager.engine.decode_batch import DecodeBatchBuilder
from codepager.engine.decode_burst import BurstPlan
from codepager.engine.graph_steps import capture, step_inputs
from codepager.engine.scheduler import ScheduledChunk
from codepager.kernels.paged_layout import PAGE_SIZE
from codepager.model.decoder import DECODE_LINEAR_ROWS, CausalLM

SMALL_BATCH_SIZES = (1, 2, 4, 8)
BATCH_STEP = 8  # beyond 8, sizes are multiples of 8
MIN_PAGES_BUCKET = 16
PAGES_SLACK = 64
MIN_GRAPH_ROWS = 64
MAX_CHUNK_ROWS = 32  # an extend chunk of more tokens re-reads its context too often: eager


def batch_bucket(num_seqs: int) -> int:
    """Smallest captured batch size >= num_seqs: 1, 2, 4, 8, then multiples of 8."""
    for size in SMALL_BATCH_SIZES:
        if num_seqs <= size:
            return size
    return -(-num_seqs // BATCH_STEP) * BATCH_STEP


def pages_bucket(num_pages: int) -> int:
    """Block-table width for num_pages: rounded up to a sixteenth of the next power of two (at least
    16 pages), so padding adds under 1/8 to a step's table walk and few graphs are needed."""
    num_pages = max(num_pages, 1)
    step = max(MIN_PAGES_BUCKET, (1 << (num_pages - 1).bit_length()) // 16)
    return -(-num_pages // step) * step


def chainable_rows(positions: list[list[int]]) -> bool:
    """Whether a step whose chunks compute these positions may run chained (CausalLM.forward: steps
    of at most DECODE_LINEAR_ROWS rows), where the paged decode loads keys before the kernel that
    stores this step's keys has finished: only those of a row's earlier pages, which holds when
    each chunk's positions are consecutive (they then fill at most its last two pages). A chunk
    that skips cached positions (blended or cached segments between computed tokens) could have
    stored keys further back, so such a step runs eagerly, unchained."""
    return all(not p or p[-1] - p[0] + 1 == len(p) for p in positions)


def decode_graphs_for(
    model: CausalLM, kv_caches: Seq[tuple[torch.Tensor, torch.Tensor]], config: EngineConfig,
) -> DecodeGraphs | None:
    """The engine's decode graphs, or None where decode stays eager (CPU, or turned off)."""
    if not config.cuda_graphs or next(model.parameters()).device.type != "cuda":
        return None
    max_len = config.max_model_len or model.config.max_position_embeddings
    # a segment span may end in a partial page: allow some pages beyond max_len / 16
    max_pages = -(-max_len // PAGE_SIZE) + PAGES_SLACK
    max_rows = max(MIN_GRAPH_ROWS, config.max_num_seqs)
    return DecodeGraphs(model, kv_caches, max_rows=max_rows, max_pages=max_pages)


@dataclass(slots=True)
class _Captured:
    graph: torch.cuda.CUDAGraph
    hidden: torch.Tensor  # [B, hidden_size], overwritten by every replay


class DecodeGraphs:
    def __init__(
        self, model: CausalLM, kv_caches: Seq[tuple[torch.Tensor, torch.Tensor]], *,
        max_rows: int, max_pages: int,
    ) -> None:
        device = next(model.parameters()).device
        if device.type != "cuda":
            raise ValueError("CUDA graphs need the model on a CUDA device")
        self.model = model
        self.kv_caches = list(kv_caches)
        self.max_rows = batch_bucket(max_rows)
        self.max_pages = pages_bucket(max_pages)
        self.device = device
        b, p = self.max_rows, self.max_pages
        self._tokens = torch.zeros(3 * b, dtype=torch.int64, device=device)  # ids, positions, slots
        self._pages = torch.zeros(4 * b * p, dtype=torch.int32, device=device)  # tables..shifts
        self._cu_seqlens = torch.arange(b + 1, dtype=torch.int32, device=device)
        self._q_positions = torch.zeros(b, dtype=torch.int32, device=device)  # unused by decode
        self._builder = DecodeBatchBuilder(max_batch_size=b, max_pages=p)
        self._rows: list[int] = []  # computed tokens per chunk of the step that supports() accepted
        self._copied = torch.cuda.Event()
        # (batch, pages, has shifted pages, the model's decode_kernels) -> graph
        self._graphs: dict[tuple[int, int, bool, str], _Captured] = {}
        self._pool = torch.cuda.graph_pool_handle()
        self._bursts = BurstGraphs(model, self.kv_caches, pool=self._pool, cu_seqlens=self._cu_seqlens,
                                   q_positions=self._q_positions)
        # for benchmarks: the last graph replayed and the decode steps it runs (time the GPU part)
        self.last_replayed: torch.cuda.CUDAGraph | None = None
        self.last_replayed_steps = 1

    @property
    def num_graphs(self) -> int:
        return len(self._graphs) + self._bursts.num_graphs

    def clear(self) -> None:
        """Drop every captured graph (steps capture again): after the model's kernels changed."""
        self._graphs.clear()
        self._bursts.clear()

    def supports(self, chunks: list[ScheduledChunk]) -> bool:
        """Chunks of at most MAX_CHUNK_ROWS tokens each, within the largest captured shape, and
        chainable_rows when the step is one the decoder chains (see there)."""
        if not chunks or any(c.end - c.start > MAX_CHUNK_ROWS for c in chunks):
            return False
        positions = [c.positions for c in chunks]
        rows = [len(p) for p in positions]
        if sum(rows) > self.max_rows or max(len(c.seq.block_table) for c in chunks) > self.max_pages:
            return False
        if sum(rows) <= DECODE_LINEAR_ROWS and not chainable_rows(positions):
            return False
        self._rows = rows
        return True

    @torch.inference_mode()
    def run(self, chunks: list[ScheduledChunk]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """Hidden states [rows, hidden_size] of the step's computed tokens (rows of the static
        output) and each chunk's (first, end) row; call right after supports(chunks) is True."""
        bounds = [0]
        for count in self._rows:
            bounds.append(bounds[-1] + count)
        batch = batch_bucket(bounds[-1])
        pages = pages_bucket(max(len(c.seq.block_table) for c in chunks))
        self._copied.synchronize()  # the previous step's copy has left the staging buffers
        has_shift = self._builder.fill(chunks, batch, pages)
        tokens, page_arrays = self._builder.staged(batch, pages)
        self._tokens[: tokens.numel()].copy_(tokens, non_blocking=True)
        self._pages[: page_arrays.numel()].copy_(page_arrays, non_blocking=True)
        self._copied.record()
        key = (batch, pages, has_shift, self.model.decode_kernels)
        captured = self._graphs.get(key)
        if captured is None:
            captured = self._graphs[key] = self._capture(batch, pages, has_shift)
        captured.graph.replay()
        self.last_replayed, self.last_replayed_steps = captured.graph, 1
        return captured.hidden[: bounds[-1]], list(zip(bounds, bounds[1:], strict=False))

    def supports_burst(self, plan: BurstPlan) -> bool:
        return plan.batch <= self.max_rows and plan.width <= self.max_pages

    @torch.inference_mode()
    def run_burst(self, plan: BurstPlan, first_ids: torch.Tensor | None = None, *,
                  capture: bool = True) -> torch.Tensor | None:
        """Greedy tokens [steps, B] (on the device, not synchronised) of the plan's decode steps,
        one graph for the burst (burst_graphs.py); first_ids [B] on the device replaces the plan's
        step-0 ids (a burst ahead). None when its graph is not captured and capture is False."""
        batch, pages = batch_bucket(plan.batch), pages_bucket(plan.width)
        ran = self._bursts.run(plan, batch, pages, first_ids, capture=capture)
        if ran is None:
            return None
        tokens, self.last_replayed = ran
        self.last_replayed_steps = plan.steps
        return tokens

    def _capture(self, batch: int, pages: int, has_shift: bool) -> _Captured:
        tokens = self._tokens[: 3 * batch].view(3, batch)
        arrays = self._pages[: 4 * batch * pages].view(4, batch, pages)
        ids, positions, meta = step_inputs(tokens, arrays, has_shift=has_shift, cu_seqlens=self._cu_seqlens,
                                           q_positions=self._q_positions)
        graph, hidden = capture(lambda: self.model(ids, positions, meta, self.kv_caches),  # (B, hidden)
                                pool=self._pool, device=self.device)
        return _Captured(graph=graph, hidden=hidden)
