"""Owns the KV page pool and runs one forward pass over a step's scheduled chunks.

Pool: k_pool, v_pool [num_layers, num_pages, 16, num_kv_heads, head_dim]; layer i uses the views
(k_pool[i], v_pool[i]). Per step it packs the chunks' own tokens, maps each to its page slot (-1
for a prefix-cache hit recomputed only for its logits: that KV is already in a shared page), and
describes every sequence's pages (start, valid length after this pass, RoPE shift).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from codepager.engine.config import DEFAULT_CPU_KV_CACHE_BYTES, EngineConfig
from codepager.engine.cuda_graphs import decode_graphs_for
from codepager.engine.decode_burst import BurstPlan, BurstPlanner
from codepager.engine.scheduler import ScheduledChunk
from codepager.engine.sequence import PAGE_SIZE, Sequence
from codepager.errors import ConfigError
from codepager.model.attention_backend import AttentionMetadata
from codepager.model.decoder import CausalLM

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def torch_dtype(name: str | None) -> torch.dtype | None:
    return None if name is None else _DTYPES[name]


@dataclass(slots=True)
class ForwardResult:
    hidden: torch.Tensor  # [T, hidden_size] final-normed hidden states of every computed token
    row_ranges: list[tuple[int, int]]  # rows of each chunk in `hidden`, in chunk order


@dataclass(slots=True)
class LaunchedBurst:
    """A launched burst's greedy tokens [steps, B]: on the device (a burst ahead takes its first ids
    from there) and on their way to pinned host memory, copied right behind the burst, so that
    reading them waits for this burst only and not for a burst queued after it."""

    device: torch.Tensor
    host: torch.Tensor
    ready: torch.cuda.Event | None  # None: host is the device tensor (CPU)

    @staticmethod
    def of(tokens: torch.Tensor) -> LaunchedBurst:
        """Start the host copy of tokens just launched on the current stream."""
        if tokens.device.type != "cuda":
            return LaunchedBurst(device=tokens, host=tokens, ready=None)
        host = torch.empty(tokens.shape, dtype=tokens.dtype, pin_memory=True)
        host.copy_(tokens, non_blocking=True)
        ready = torch.cuda.Event()
        ready.record()
        return LaunchedBurst(device=tokens, host=host, ready=ready)

    def tolist(self) -> list[list[int]]:
        if self.ready is not None:
            self.ready.synchronize()
        return self.host.tolist()


class ModelRunner:
    def __init__(self, model: CausalLM, config: EngineConfig) -> None:
        self.model = model
        weight = next(model.parameters())
        self.device = weight.device
        self.dtype = weight.dtype
        model.decode_kernels = config.decode_kernels_for(self.device)
        if self.device.type == "cpu" and config.cpu_threads is not None:
            # process-wide: on a loaded 2-core box 1 thread decodes ~4.7x faster than 2 (decisions)
            torch.set_num_threads(config.cpu_threads)
        mc = model.config
        page_bytes = 2 * mc.num_layers * PAGE_SIZE * mc.num_kv_heads * mc.head_dim * weight.element_size()
        self.num_pages = self._pool_pages(config, page_bytes)
        shape = (mc.num_layers, self.num_pages, PAGE_SIZE, mc.num_kv_heads, mc.head_dim)
        self.k_pool = torch.zeros(shape, device=self.device, dtype=self.dtype)
        self.v_pool = torch.zeros(shape, device=self.device, dtype=self.dtype)
        self.kv_caches = [(self.k_pool[i], self.v_pool[i]) for i in range(mc.num_layers)]
        self.pool_bytes = 2 * self.k_pool.numel() * self.k_pool.element_size()
        self.decode_graphs = decode_graphs_for(model, self.kv_caches, config)  # None: eager decode
        self.burst_planner = BurstPlanner()

    def _pool_pages(self, config: EngineConfig, page_bytes: int) -> int:
        if config.num_pages is not None:
            return config.num_pages
        budget = config.kv_cache_bytes
        if budget is None and self.device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(self.device)
            budget = int(free * config.gpu_memory_utilization)
        if budget is None:
            budget = DEFAULT_CPU_KV_CACHE_BYTES
        pages = budget // page_bytes
        if pages < 1:
            raise ConfigError(f"KV cache budget of {budget} bytes is less than one page ({page_bytes} bytes)")
        return pages

    def prepare(self, chunks: list[ScheduledChunk]) -> tuple[torch.Tensor, torch.Tensor, AttentionMetadata]:
        """Packed input ids [T], positions [T] and the attention metadata of these chunks."""
        token_ids: list[int] = []
        positions: list[int] = []
        slots: list[int] = []
        cu_seqlens = [0]
        max_pages = max(len(c.seq.block_table) for c in chunks)
        tables, starts, lens, shifts = [], [], [], []
        for chunk in chunks:
            seq = chunk.seq
            for position in chunk.positions:
                token_ids.append(seq.token_ids[position])
                positions.append(position)
                if position < seq.num_cached_tokens:
                    slots.append(-1)
                else:
                    page, slot = seq.page_of(position)
                    slots.append(seq.block_table[page] * PAGE_SIZE + slot)
            cu_seqlens.append(len(token_ids))
            entries = seq.page_entries()
            pad = [0] * (max_pages - len(entries))
            tables.append(seq.block_table[:len(entries)] + [-1] * len(pad))  # minus pages reserved ahead
            starts.append([e.start for e in entries] + pad)
            lens.append([min(max(chunk.end - e.start, 0), e.length) for e in entries] + pad)
            shifts.append([e.shift for e in entries] + pad)
        to = dict(device=self.device)
        int32 = dict(dtype=torch.int32, device=self.device)
        meta = AttentionMetadata(
            slot_mapping=torch.tensor(slots, dtype=torch.int64, **to),
            block_tables=torch.tensor(tables, **int32),
            page_starts=torch.tensor(starts, **int32),
            page_lens=torch.tensor(lens, **int32),
            page_shifts=torch.tensor(shifts, **int32) if any(map(any, shifts)) else None,
            cu_seqlens_q=torch.tensor(cu_seqlens, dtype=torch.int32, **to),
            q_positions=torch.tensor(positions, dtype=torch.int32, **to),
            is_decode=all(hi - lo == 1 for lo, hi in zip(cu_seqlens, cu_seqlens[1:], strict=False)),
        )
        ids = torch.tensor(token_ids, dtype=torch.int64, **to)
        pos = torch.tensor(positions, dtype=torch.int64, **to)
        return ids, pos, meta

    @torch.inference_mode()
    def forward(self, chunks: list[ScheduledChunk]) -> ForwardResult:
        """Run chunks that compute at least one token; store their K/V into the pool."""
        if self.decode_graphs is not None and self.decode_graphs.supports(chunks):
            hidden, row_ranges = self.decode_graphs.run(chunks)  # (T, hidden) from a CUDA graph
            return ForwardResult(hidden=hidden, row_ranges=row_ranges)
        input_ids, positions, meta = self.prepare(chunks)
        hidden = self.model(input_ids, positions, meta, self.kv_caches)  # (T, hidden)
        bounds = meta.cu_seqlens_q.tolist()
        return ForwardResult(hidden=hidden, row_ranges=list(zip(bounds, bounds[1:], strict=False)))

    @torch.inference_mode()
    def run_burst(self, seqs: list[Sequence], steps: int) -> list[list[int]]:
        """Greedy tokens [steps][len(seqs)] of `steps` decode steps, one host synchronisation in
        all: step i+1's input ids are step i's argmax, on the device. Pages must be reserved."""
        launched = self.launch_burst(seqs, steps)
        assert launched is not None
        return launched.tolist()

    @torch.inference_mode()
    def launch_burst(self, seqs: list[Sequence], steps: int, *, ahead: int = 0,
                     first_ids: torch.Tensor | None = None, captured_only: bool = False,
                     ) -> LaunchedBurst | None:
        """run_burst's tokens [steps, len(seqs)], not synchronised (on CUDA the GPU may still be
        computing them). ahead > 0: the burst after a running one of that many steps, its step-0
        ids first_ids [len(seqs)] on the device. captured_only: launch only from a CUDA graph
        captured before (else None): then launching costs the host next to nothing, where a
        capture takes tens of milliseconds and an eager burst computes (CPU) or launches hundreds
        of kernels."""
        assert (ahead > 0) == (first_ids is not None), "a burst ahead takes its first ids from the device"
        plan = self.burst_planner.plan(seqs, steps, ahead)
        if self.decode_graphs is not None and self.decode_graphs.supports_burst(plan):
            tokens = self.decode_graphs.run_burst(plan, first_ids, capture=not captured_only)
            if tokens is None:
                return None
        elif captured_only:
            return None
        else:
            tokens = self._eager_burst(plan, first_ids)
        return LaunchedBurst.of(tokens)

    def _eager_burst(self, plan: BurstPlan, first_ids: torch.Tensor | None) -> torch.Tensor:
        batch, width = plan.batch, plan.width
        out = torch.empty((plan.steps, batch), dtype=torch.int64, device=self.device)
        cu_seqlens = torch.arange(batch + 1, dtype=torch.int32, device=self.device)
        for step in range(plan.steps):
            tokens = np.empty((3, batch), dtype=np.int64)  # ids, positions, slots
            arrays = np.empty((4, batch, width), dtype=np.int32)  # tables, starts, lens, shifts
            plan.stage(step, tokens, arrays)
            tokens_t = torch.from_numpy(tokens).to(self.device)
            arrays_t = torch.from_numpy(arrays).to(self.device)
            ids = out[step - 1] if step else tokens_t[0] if first_ids is None else first_ids
            meta = AttentionMetadata(
                slot_mapping=tokens_t[2], block_tables=arrays_t[0], page_starts=arrays_t[1],
                page_lens=arrays_t[2], page_shifts=arrays_t[3] if plan.has_shift else None,
                cu_seqlens_q=cu_seqlens, q_positions=tokens_t[1].to(torch.int32), is_decode=True,
            )
            hidden = self.model(ids, tokens_t[1], meta, self.kv_caches)  # (B, hidden)
            out[step] = self.model.compute_logits(hidden).argmax(dim=-1)
        return out

    @torch.inference_mode()
    def compute_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.model.compute_logits(hidden)  # (N, vocab) float32
