"""CacheBlend-style selective recompute for a blended segment placement.

When a request reaches a blended segment (everything before it computed), the selector:
1. copies the segment's shared pages into the request's private pages (all layers), so nothing the
   request writes can reach a page other requests read, with the keys rotated by the placement's
   shift (the copies then hold keys at their logical positions, like the request's own pages, so
   that keys recomputed in place agree with the rest of the page);
2. probes: runs the segment's tokens through layer 0 in context (nothing stored: layer-0 K/V depend
   only on token and position, so the cached layer-0 K/V are already exact) and projects layer 1's
   K/V from that output; those are exactly the layer-1 K/V a full prefill would compute;
3. picks the ceil(share * length) tokens whose layer-1 K/V deviate most from the cached ones
   (squared deviation of K plus V, each normalised by the cached mean square).
The chosen positions then go through every layer like own tokens of the request, attending to the
private copies (cached K/V for the rest, fresh K/V for the chosen ones) and overwriting their slots.
CacheBlend proper re-selects at every layer from the tokens chosen at the layer before; this is its
one-step variant (select at layer 1, recompute the selection through all layers).
"""

from __future__ import annotations

import math

import torch

from codepager.engine.sequence import PAGE_SIZE, Sequence, Span
from codepager.kernels.paged_layout import rotate_by
from codepager.model.attention_backend import AttentionMetadata
from codepager.model.decoder import CausalLM
from codepager.model.rope import rope_cos_sin


class BlendSelector:
    def __init__(self, model: CausalLM, k_pool: torch.Tensor, v_pool: torch.Tensor) -> None:
        self.model = model
        self.k_pool = k_pool  # [num_layers, num_pages, 16, num_kv_heads, head_dim]
        self.v_pool = v_pool
        self.probe_tokens = 0  # tokens run through the layer-0 probe (cost: one layer each)

    def __call__(self, seq: Sequence, span: Span) -> list[int]:
        """Positions of `span` to recompute in context; copies its pages first."""
        self._copy_pages(seq, span)
        count = math.ceil(span.blend * span.length - 1e-9)
        positions = list(range(span.start, span.start + span.length))
        if count >= span.length:
            return positions
        if count == 0 or self.model.config.num_layers < 2:
            return []  # layer-0 K/V are context-free: with one layer nothing deviates
        deviation = self.layer1_deviation(seq, span)  # (length,)
        chosen = torch.topk(deviation, count).indices.tolist()
        return sorted(span.start + i for i in chosen)

    def _span_pages(self, seq: Sequence, span: Span) -> range:
        return range(span.first_page, span.first_page + math.ceil(span.length / PAGE_SIZE))

    @torch.inference_mode()
    def _copy_pages(self, seq: Sequence, span: Span) -> None:
        pages = self._span_pages(seq, span)
        src = [seq.page_entry(i).segment_page for i in pages]
        dst = [seq.block_table[i] for i in pages]
        device = self.k_pool.device
        src_t, dst_t = torch.tensor(src, device=device), torch.tensor(dst, device=device)
        keys = self.k_pool.index_select(1, src_t)  # (layers, pages, 16, Hkv, D)
        if span.shift:
            flat = keys.flatten(0, 2)  # (layers * pages * 16, Hkv, D)
            shifts = torch.full((flat.shape[0],), span.shift, device=device)
            keys = rotate_by(flat, shifts, self.model.rope_inv_freq).view_as(keys)
        self.k_pool.index_copy_(1, dst_t, keys)
        self.v_pool.index_copy_(1, dst_t, self.v_pool.index_select(1, src_t))

    def _slots(self, seq: Sequence, span: Span) -> torch.Tensor:
        slots = []
        for position in range(span.start, span.start + span.length):
            page, slot = seq.page_of(position)
            slots.append(seq.block_table[page] * PAGE_SIZE + slot)
        return torch.tensor(slots, dtype=torch.int64, device=self.k_pool.device)

    @torch.inference_mode()
    def layer1_deviation(self, seq: Sequence, span: Span) -> torch.Tensor:
        """Per token of the span: how far its cached layer-1 K/V are from the in-context ones."""
        model, device = self.model, self.k_pool.device
        n = span.length
        num_pages = span.first_page + len(self._span_pages(seq, span))
        entries = seq.page_entries()[:num_pages]
        int32 = dict(dtype=torch.int32, device=device)
        positions = torch.arange(span.start, span.start + n, device=device)
        shifts = [e.shift for e in entries]
        meta = AttentionMetadata(
            slot_mapping=torch.full((n,), -1, dtype=torch.int64, device=device),
            block_tables=torch.tensor([seq.block_table[:num_pages]], **int32),
            page_starts=torch.tensor([[e.start for e in entries]], **int32),
            page_lens=torch.tensor([[e.length for e in entries]], **int32),
            page_shifts=torch.tensor([shifts], **int32) if any(shifts) else None,
            cu_seqlens_q=torch.tensor([0, n], **int32),
            q_positions=positions.to(torch.int32), is_decode=False,
        )
        ids = torch.tensor(seq.token_ids[span.start:span.start + n], dtype=torch.int64, device=device)
        hidden = model.model.embed_tokens(ids)  # (n, hidden)
        factor = model.rope_attention_factor
        cos, sin = rope_cos_sin(positions, model.rope_inv_freq, factor, hidden.dtype)
        layer0, layer1 = model.model.layers[0], model.model.layers[1]
        hidden, residual = layer0(hidden, None, cos, sin, meta, self.k_pool[0], self.v_pool[0],
                                  model.rope_inv_freq)
        attn = layer1.self_attn
        x, _ = layer1.input_layernorm.add_and_norm(hidden, residual)
        # k rotated to the logical positions, as the private copies hold them; each (n, Hkv, D)
        _, k, v = attn.project_qkv(x, cos, sin)
        slots = self._slots(seq, span)
        k_old = self.k_pool[1].flatten(0, 1)[slots].float()  # (n, Hkv, D)
        v_old = self.v_pool[1].flatten(0, 1)[slots].float()
        self.probe_tokens += n
        dk = (k.float() - k_old).pow(2).sum(dim=(1, 2)) / k_old.pow(2).sum(dim=(1, 2)).mean().clamp_min(1e-12)
        dv = (v.float() - v_old).pow(2).sum(dim=(1, 2)) / v_old.pow(2).sum(dim=(1, 2)).mean().clamp_min(1e-12)
        return dk + dv
