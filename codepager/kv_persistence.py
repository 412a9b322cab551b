"""Segment KV <-> LMDB blobs: a computed segment's pages saved in the index store and restored on a
later start, so that a restart does not recompute them.

Blobs are keyed by (model fingerprint, sha256 of the segment's token ids, and of its preamble's
when it was encoded after one): the token ids cover the path and text of the segment and the prompt
format, and the fingerprint covers weights, tokenizer and architecture, so a restored blob is
exactly what encoding would compute. Blob layout: a 16-byte magic/version header, a JSON header
line (dtype, shape, tokens, base), then K then V of the segment's pages as
[num_layers, pages, 16, num_kv_heads, head_dim], raw bytes.

Whether restoring beats recomputing depends on the device: `KVPersistence` times both (per token)
as it goes and stops restoring when loading is measured slower than computing.
"""

from __future__ import annotations

import hashlib
import json
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

MAGIC = b"codepager-kv-v1\n"
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class KVStore(Protocol):
    def put_kv(self, model_fingerprint: str, content_hash: str, blob: bytes) -> None: ...

    def get_kv(self, model_fingerprint: str, content_hash: str) -> bytes | None: ...


def tokens_key(token_ids: Sequence[int], preamble: Sequence[int] = ()) -> str:
    h = hashlib.sha256()
    if preamble:  # without one the key stays the plain token hash (blobs saved before preambles)
        h.update(b"preamble" + len(preamble).to_bytes(8, "little") + array("q", preamble).tobytes())
    h.update(array("q", token_ids).tobytes())
    return h.hexdigest()


@dataclass(slots=True)
class PersistenceStats:
    saved: int = 0
    restored: int = 0
    restore_misses: int = 0
    restore_seconds: float = 0.0
    restored_tokens: int = 0
    compute_seconds: float = 0.0
    computed_tokens: int = 0

    def restore_beats_compute(self) -> bool:
        if not self.restored_tokens or not self.computed_tokens:
            return True  # not measured yet: restoring is the cheap default on every device we know
        return self.restore_seconds / self.restored_tokens < self.compute_seconds / self.computed_tokens


class KVPersistence:
    def __init__(self, engine: Any, store: KVStore, fingerprint: str) -> None:
        self.engine = engine
        self.store = store
        self.fingerprint = fingerprint
        self.stats = PersistenceStats()

    def _pools(self) -> tuple[torch.Tensor, torch.Tensor]:
        runner = self.engine.runner
        return runner.k_pool, runner.v_pool

    def save(self, handle: Any) -> int:
        """Persist a segment handle's KV; returns the blob size in bytes."""
        k_pool, v_pool = self._pools()
        pages = torch.tensor(handle.page_ids, dtype=torch.long, device=k_pool.device)
        k = k_pool.index_select(1, pages).contiguous().cpu()  # (L, P, 16, Hkv, D)
        v = v_pool.index_select(1, pages).contiguous().cpu()
        dtype = next(name for name, dt in _DTYPES.items() if dt == k.dtype)
        header = json.dumps({"dtype": dtype, "shape": list(k.shape), "tokens": len(handle.token_ids),
                             "base": len(handle.preamble)})
        blob = MAGIC + header.encode() + b"\n" + _raw_bytes(k) + _raw_bytes(v)
        self.store.put_kv(self.fingerprint, tokens_key(handle.token_ids, handle.preamble), blob)
        self.stats.saved += 1
        return len(blob)

    def restore(self, token_ids: Sequence[int], preamble: Sequence[int] = ()) -> Any | None:
        """A live segment handle for these tokens (encoded after `preamble`) from a stored blob, or
        None (nothing stored, a mismatch, no free pages, or restoring measured slower than computing)."""
        if not self.stats.restore_beats_compute():
            return None
        registry = self.engine.scheduler.segments
        live = registry.live_for(list(token_ids), tuple(preamble))
        if live is not None:
            registry.acquire(live)
            return live
        started = time.perf_counter()
        blob = self.store.get_kv(self.fingerprint, tokens_key(token_ids, preamble))
        if blob is None or not blob.startswith(MAGIC):
            self.stats.restore_misses += 1
            return None
        header_end = blob.index(b"\n", len(MAGIC))
        header = json.loads(blob[len(MAGIC):header_end])
        k_pool, v_pool = self._pools()
        shape = tuple(header["shape"])
        expected = (k_pool.shape[0], shape[1], *k_pool.shape[2:])
        same_dtype = _DTYPES[header["dtype"]] == k_pool.dtype
        same_layout = header["tokens"] == len(token_ids) and header.get("base", 0) == len(preamble)
        if not same_layout or shape != expected or not same_dtype:
            self.stats.restore_misses += 1
            return None
        block_manager = self.engine.block_manager
        if block_manager.num_free_pages < shape[1]:
            return None
        payload = memoryview(blob)[header_end + 1:]
        half = len(payload) // 2
        k = _from_bytes(payload[:half], k_pool.dtype, shape).to(k_pool.device)
        v = _from_bytes(payload[half:], v_pool.dtype, shape).to(v_pool.device)
        page_ids = block_manager.take_free_pages(shape[1])
        index = torch.tensor(page_ids, dtype=torch.long, device=k_pool.device)
        k_pool.index_copy_(1, index, k)
        v_pool.index_copy_(1, index, v)
        handle = registry.register(list(token_ids), page_ids, tuple(preamble))
        self.stats.restored += 1
        self.stats.restored_tokens += len(token_ids)
        self.stats.restore_seconds += time.perf_counter() - started
        return handle

    def note_compute(self, tokens: int, seconds: float) -> None:
        """An encode that computed `tokens` took `seconds` (for the restore-vs-recompute decision)."""
        self.stats.computed_tokens += tokens
        self.stats.compute_seconds += seconds


def _raw_bytes(t: torch.Tensor) -> bytes:
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def _from_bytes(data: memoryview, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
    raw_dtype = torch.int16 if dtype == torch.bfloat16 else dtype
    t = torch.frombuffer(bytearray(data), dtype=raw_dtype).reshape(shape)
    return t.view(dtype) if dtype == torch.bfloat16 else t
