"""The model fingerprint that keys persisted KV: architecture + weights + tokenizer + compute dtype.

Weights up to FULL_HASH_LIMIT bytes in total are hashed completely. Larger checkpoints (GBs) hash
each file's safetensors header (names, dtypes, shapes, offsets), its size and SAMPLE_COUNT chunks
of SAMPLE_BYTES at evenly spaced offsets (first and last included): milliseconds instead of the
seconds a full hash of a multi-GB checkpoint takes, and any re-export, re-quantisation or resize
changes the header or the sampled bytes. An in-place edit of unsampled bytes is not detected.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import torch

from codepager.model.config import ModelConfig

FULL_HASH_LIMIT = 64 * 1024 * 1024
SAMPLE_COUNT = 32
SAMPLE_BYTES = 64 * 1024
_READ_BLOCK = 4 * 1024 * 1024


def model_fingerprint(
    config: ModelConfig, weight_files: Sequence[Path], tokenizer_digest: str, dtype: torch.dtype,
) -> str:
    digest = hashlib.sha256()
    for part in (config.to_canonical_json(), weights_digest(weight_files), tokenizer_digest, str(dtype)):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def weights_digest(weight_files: Sequence[Path]) -> str:
    files = sorted(weight_files, key=lambda p: p.name)
    full = sum(p.stat().st_size for p in files) <= FULL_HASH_LIMIT
    digest = hashlib.sha256(b"full" if full else b"sampled")
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.name}\0{size}\0".encode())
        with path.open("rb") as handle:
            if full:
                while block := handle.read(_READ_BLOCK):
                    digest.update(block)
            else:
                _update_sampled(digest, handle, size)
    return digest.hexdigest()


def _update_sampled(digest: Any, handle: BinaryIO, size: int) -> None:
    header_len = struct.unpack("<Q", handle.read(8))[0] if size >= 8 else 0
    handle.seek(0)
    digest.update(handle.read(8 + min(header_len, size)))
    last_start = max(size - SAMPLE_BYTES, 0)
    for i in range(SAMPLE_COUNT):
        handle.seek(last_start * i // (SAMPLE_COUNT - 1))
        digest.update(handle.read(SAMPLE_BYTES))
