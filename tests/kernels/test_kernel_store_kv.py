"""Triton KV store vs its plain-torch reference (interpreter on CPU)."""

from __future__ import annotations

import pytest
import torch
from paged_cases import DEVICE

from codepager.kernels.store_kv import store_kv, store_kv_ref


@pytest.mark.parametrize("num_kv_heads", [1, 3])
def test_store_kv_matches_reference_and_skips_padding(num_kv_heads):
    gen = torch.Generator().manual_seed(num_kv_heads)
    head_dim, num_pages, tokens = 16, 5, 23
    qkv = torch.randn(tokens, 3 * num_kv_heads, head_dim, generator=gen).to(DEVICE)
    key, value = qkv[:, :num_kv_heads], qkv[:, num_kv_heads: 2 * num_kv_heads]  # strided views
    slots = torch.randperm(num_pages * 16, generator=gen)[:tokens].to(DEVICE)
    slots[::4] = -1
    poison = torch.randn(num_pages, 16, num_kv_heads, head_dim, generator=gen).to(DEVICE)
    k_out, v_out = poison.clone(), poison.clone() + 1
    k_ref, v_ref = k_out.clone(), v_out.clone()
    store_kv(key=key, value=value, k_cache=k_out, v_cache=v_out, slot_mapping=slots)
    store_kv_ref(key=key, value=value, k_cache=k_ref, v_cache=v_ref, slot_mapping=slots)
    assert torch.equal(k_out, k_ref) and torch.equal(v_out, v_ref)
    untouched = torch.ones(num_pages * 16, dtype=torch.bool, device=DEVICE)
    untouched[slots[slots >= 0]] = False
    assert torch.equal(k_out.view(-1, num_kv_heads, head_dim)[untouched],
                       poison.view(-1, num_kv_heads, head_dim)[untouched])


def test_store_kv_converts_to_the_cache_dtype():
    gen = torch.Generator().manual_seed(0)
    key = torch.randn(4, 2, 16, generator=gen).to(DEVICE)
    value = torch.randn(4, 2, 16, generator=gen).to(DEVICE)
    k_cache = torch.randn(1, 16, 2, 16, generator=gen).half().to(DEVICE)
    v_cache = torch.randn(1, 16, 2, 16, generator=gen).half().to(DEVICE)
    store_kv(key=key, value=value, k_cache=k_cache, v_cache=v_cache,
             slot_mapping=torch.tensor([3, 0, 15, 7], device=DEVICE))
    assert torch.equal(k_cache[0, [3, 0, 15, 7]], key.half())
    assert torch.equal(v_cache[0, [3, 0, 15, 7]], value.half())
