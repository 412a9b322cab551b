"""Store new K/V into pages by slot mapping.

Layouts:
    key, value:    [num_tokens, num_kv_heads, head_dim]   (any strides with head_dim contiguous)
    k_cache, v_cache: [num_pages, PAGE_SIZE, num_kv_heads, head_dim]  (written in place)
    slot_mapping:  [num_tokens] int64, page * PAGE_SIZE + slot; -1 = skip (padding)

Kernel: one program per token copies its [num_kv_heads, head_dim] rows of K and V into the slot,
converting to the cache dtype. Graph-capturable (no host reads).
"""

import torch

from codepager.kernels.triton_import import require_triton, tl, triton


@triton.jit
def _store_kv_kernel(
    key_ptr, value_ptr, k_cache_ptr, v_cache_ptr, slot_ptr,
    num_kv_heads,
    stride_key_tok, stride_key_head, stride_value_tok, stride_value_head,
    stride_kc_slot, stride_kc_head, stride_vc_slot, stride_vc_head,
    HEAD_DIM: tl.constexpr, BLOCK_HEADS: tl.constexpr,
):
    token = tl.program_id(0)
    slot = tl.load(slot_ptr + token).to(tl.int64)
    if slot < 0:
        return
    heads = tl.arange(0, BLOCK_HEADS)
    d = tl.arange(0, HEAD_DIM)
    ok = (heads < num_kv_heads)[:, None]
    src = token.to(tl.int64) * stride_key_tok + heads[:, None] * stride_key_head + d[None, :]
    k = tl.load(key_ptr + src, mask=ok)
    dst = slot * stride_kc_slot + heads[:, None] * stride_kc_head + d[None, :]
    tl.store(k_cache_ptr + dst, k.to(k_cache_ptr.dtype.element_ty), mask=ok)
    src = token.to(tl.int64) * stride_value_tok + heads[:, None] * stride_value_head + d[None, :]
    v = tl.load(value_ptr + src, mask=ok)
    dst = slot * stride_vc_slot + heads[:, None] * stride_vc_head + d[None, :]
    tl.store(v_cache_ptr + dst, v.to(v_cache_ptr.dtype.element_ty), mask=ok)


def store_kv(
    *,
    key: torch.Tensor,
    value: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    slot_mapping: torch.Tensor,
) -> None:
    """Triton store; same contract as store_kv_ref."""
    require_triton()
    check_store_inputs(key=key, value=value, k_cache=k_cache, v_cache=v_cache, slot_mapping=slot_mapping)
    num_tokens, num_kv_heads, head_dim = key.shape
    if num_tokens == 0:
        return
    _store_kv_kernel[(num_tokens,)](
        key_ptr=key, value_ptr=value, k_cache_ptr=k_cache, v_cache_ptr=v_cache, slot_ptr=slot_mapping,
        num_kv_heads=num_kv_heads,
        stride_key_tok=key.stride(0), stride_key_head=key.stride(1),
        stride_value_tok=value.stride(0), stride_value_head=value.stride(1),
        stride_kc_slot=k_cache.stride(1), stride_kc_head=k_cache.stride(2),
        stride_vc_slot=v_cache.stride(1), stride_vc_head=v_cache.stride(2),
        HEAD_DIM=head_dim, BLOCK_HEADS=triton.next_power_of_2(num_kv_heads), num_warps=4,
    )


def check_store_inputs(
    *, key: torch.Tensor, value: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
    slot_mapping: torch.Tensor,
) -> None:
    """The layout assertions of every kernel that stores K/V by slot mapping."""
    num_tokens, num_kv_heads, head_dim = key.shape
    assert value.shape == key.shape
    assert k_cache.shape == v_cache.shape and k_cache.shape[2:] == (num_kv_heads, head_dim)
    assert head_dim & (head_dim - 1) == 0, "head_dim must be a power of two"
    assert key.stride(2) == 1 and value.stride(2) == 1
    # pages and slots flattened into one slot index: page stride must be PAGE_SIZE slot strides
    assert k_cache.stride(0) == k_cache.shape[1] * k_cache.stride(1) and k_cache.stride(3) == 1
    assert v_cache.stride(0) == v_cache.shape[1] * v_cache.stride(1) and v_cache.stride(3) == 1
    assert slot_mapping.shape == (num_tokens,) and slot_mapping.dtype in (torch.int64, torch.int32)


def store_kv_ref(
    *,
    key: torch.Tensor,
    value: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    slot_mapping: torch.Tensor,
) -> None:
    keep = slot_mapping >= 0
    slots = slot_mapping[keep].long()
    k_flat = k_cache.view(-1, k_cache.shape[2], k_cache.shape[3])  # (pages * PAGE_SIZE, Hkv, D)
    v_flat = v_cache.view(-1, v_cache.shape[2], v_cache.shape[3])
    k_flat[slots] = key[keep].to(k_cache.dtype)
    v_flat[slots] = value[keep].to(v_cache.dtype)
