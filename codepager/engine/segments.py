"""Position-independent segments: token runs whose KV was computed once at local positions
0..L-1 (attending only to themselves) and is placed, zero-copy, at any offset of any request.

The registry keys live segments by content (token ids). A handle pins its pages (one page
reference each) while anyone holds it: the caller of encode_segment (until release_segment) and
every request whose prompt contains it (until that request finishes). When the last holder lets go
the pages are unreferenced; their full pages stay in the prefix cache, so encoding the same tokens
again is usually a cache hit that computes nothing.
"""

from __future__ import annotations

import hashlib
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codepager.engine.block_manager import BlockManager


def content_hash(token_ids: list[int] | tuple[int, ...]) -> bytes:
    return hashlib.blake2b(array("q", token_ids).tobytes(), digest_size=16).digest()


@dataclass(eq=False, slots=True)
class SegmentHandle:
    """A computed segment: its tokens and the physical pages holding their KV (last may be partial)."""

    segment_id: int
    content_hash: bytes
    token_ids: tuple[int, ...]
    page_ids: tuple[int, ...]
    holders: int = field(default=0, repr=False)

    def __len__(self) -> int:
        return len(self.token_ids)


@dataclass(slots=True)
class SegmentStats:
    hits: int = 0
    misses: int = 0


class SegmentRegistry:
    def __init__(self, block_manager: BlockManager) -> None:
        self.block_manager = block_manager
        self.live: dict[bytes, SegmentHandle] = {}
        self.stats = SegmentStats()
        self._next_id = 0

    def live_for(self, token_ids: list[int]) -> SegmentHandle | None:
        handle = self.live.get(content_hash(token_ids))
        return handle if handle is not None and handle.token_ids == tuple(token_ids) else None

    def lookup(self, token_ids: list[int]) -> SegmentHandle | None:
        """A live handle for these tokens, now held once more by the caller; None on a miss."""
        handle = self.live_for(token_ids)
        if handle is None:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        self.acquire(handle)
        return handle

    def register(self, token_ids: list[int], page_ids: list[int]) -> SegmentHandle:
        """Adopt freshly computed pages (their references pass to the handle), held once."""
        handle = SegmentHandle(self._next_id, content_hash(token_ids), tuple(token_ids), tuple(page_ids))
        self._next_id += 1
        self.live[handle.content_hash] = handle
        handle.holders = 1
        return handle

    def acquire(self, handle: SegmentHandle) -> None:
        if handle.holders <= 0:
            raise ValueError(f"segment {handle.segment_id} was released")
        handle.holders += 1

    def release(self, handle: SegmentHandle) -> None:
        if handle.holders <= 0:
            return
        handle.holders -= 1
        if handle.holders == 0:
            if self.live.get(handle.content_hash) is handle:
                del self.live[handle.content_hash]
            self.block_manager.unref_pages(handle.page_ids)
