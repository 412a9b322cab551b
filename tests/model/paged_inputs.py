"""Build paged KV inputs for model tests: fresh contiguous pages per sequence, no shifts.

PagedBatch keeps each sequence's pages and length across passes, so a test can prefill, extend by
a chunk and decode one token at a time through the same caches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from codepager.kernels.paged_layout import PAGE_SIZE
from codepager.model.attention_backend import AttentionMetadata


@dataclass
class PagedBatch:
    num_seqs: int
    max_pages: int
    next_free_page: int = 0
    pages: list[list[int]] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pages = [[] for _ in range(self.num_seqs)]
        self.lengths = [0] * self.num_seqs

    def step(self, new_tokens: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, AttentionMetadata]:
        """(input_ids [T], positions [T], metadata) appending new_tokens[s] to sequence s."""
        ids, positions, slots, cu = [], [], [], [0]
        for seq, tokens in enumerate(new_tokens):
            for token in tokens:
                pos = self.lengths[seq]
                if pos % PAGE_SIZE == 0:
                    self.pages[seq].append(self.next_free_page)
                    self.next_free_page += 1
                slots.append(self.pages[seq][pos // PAGE_SIZE] * PAGE_SIZE + pos % PAGE_SIZE)
                ids.append(token)
                positions.append(pos)
                self.lengths[seq] += 1
            cu.append(len(ids))
        tables = torch.full((self.num_seqs, self.max_pages), -1, dtype=torch.int32)
        starts = torch.zeros((self.num_seqs, self.max_pages), dtype=torch.int32)
        lens = torch.zeros((self.num_seqs, self.max_pages), dtype=torch.int32)
        for seq, pages in enumerate(self.pages):
            for index, page in enumerate(pages):
                tables[seq, index] = page
                starts[seq, index] = index * PAGE_SIZE
                lens[seq, index] = min(PAGE_SIZE, self.lengths[seq] - index * PAGE_SIZE)
        meta = AttentionMetadata(
            slot_mapping=torch.tensor(slots, dtype=torch.int64),
            block_tables=tables,
            page_starts=starts,
            page_lens=lens,
            page_shifts=None,
            cu_seqlens_q=torch.tensor(cu, dtype=torch.int32),
            q_positions=torch.tensor(positions, dtype=torch.int32),
            is_decode=all(len(tokens) == 1 for tokens in new_tokens),
        )
        return torch.tensor(ids, dtype=torch.int64), torch.tensor(positions, dtype=torch.int64), meta


def run_paged(model, batch: PagedBatch, kv_caches, new_tokens: list[list[int]]) -> list[torch.Tensor]:
    """Logits [len(new_tokens[s]), vocab] of each sequence for one forward pass."""
    input_ids, positions, meta = batch.step(new_tokens)
    device = kv_caches[0][0].device
    for name in ("slot_mapping", "block_tables", "page_starts", "page_lens", "cu_seqlens_q", "q_positions"):
        setattr(meta, name, getattr(meta, name).to(device))
    with torch.inference_mode():
        hidden = model(input_ids.to(device), positions.to(device), meta, kv_caches)
        logits = model.compute_logits(hidden)
    bounds = meta.cu_seqlens_q.tolist()
    return [logits[bounds[s]:bounds[s + 1]].cpu() for s in range(len(new_tokens))]
