"""Position-independent segments: token runs whose KV was computed once at local positions
base..base+L-1 and is placed, zero-copy, at any offset of any request.

A segment is encoded alone (base 0) or after a preamble (base = preamble length): the preamble's
tokens are computed before it and attended to, but its pages are not part of the handle, and the
segment's own pages start on a fresh page, so they hold only the segment's tokens.

A request places a handle whole (`SegmentHandle` in the prompt) or through a `SegmentPlacement`:
`recompute_head=N` computes the segment's first N tokens in the request at their true positions
and attaches only the pages from token N on (EPIC); `blend=r` copies the segment's pages into the
request's own pages and recomputes the share r of its tokens whose KV deviates most from what
full attention gives (CacheBlend, see blend.py). Shared segment pages are never written.

The registry keys live segments by content (preamble and token ids). A handle pins its pages (one
page reference each) while anyone holds it: the caller of encode_segment (until release_segment)
and every request whose prompt contains it (until that request finishes). When the last holder lets
go the pages are unreferenced; their full pages stay in the prefix cache, so encoding the same
tokens again is usually a cache hit that computes nothing.
"""

from __future__ import annotations

import hashlib
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from codepager.errors import RequestError

if TYPE_CHECKING:
    from codepager.engine.block_manager import BlockManager

PAGE_SIZE = 16
Tokens = list[int] | tuple[int, ...]


def content_hash(token_ids: Tokens, preamble: Tokens = ()) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    if preamble:
        h.update(b"preamble")
        h.update(len(preamble).to_bytes(8, "little"))
        h.update(array("q", preamble).tobytes())
    h.update(array("q", token_ids).tobytes())
    return h.digest()


@dataclass(eq=False, slots=True)
class SegmentHandle:
    """A computed segment: its tokens and the physical pages holding their KV (last may be partial).
    Its keys are rotated at local positions base.. (base = len(preamble))."""

    segment_id: int
    content_hash: bytes
    token_ids: tuple[int, ...]
    page_ids: tuple[int, ...]
    preamble: tuple[int, ...] = ()
    holders: int = field(default=0, repr=False)

    @property
    def base(self) -> int:
        return len(self.preamble)

    def __len__(self) -> int:
        return len(self.token_ids)

    def placed(self, *, recompute_head: int = 0, blend: float = 0.0) -> SegmentPlacement:
        return SegmentPlacement(self, recompute_head, blend)


@dataclass(frozen=True, slots=True)
class SegmentPlacement:
    """How a request places a segment: its first `recompute_head` tokens computed in the request
    (a multiple of 16, so whole pages are skipped; at least the length = all tokens computed), and
    with blend > 0 the share `blend` of the rest recomputed in context (CacheBlend)."""

    handle: SegmentHandle
    recompute_head: int = 0
    blend: float = 0.0

    def __post_init__(self) -> None:
        head = self.recompute_head
        if head < 0 or (head % PAGE_SIZE and head < len(self.handle)):
            raise RequestError(f"recompute_head must be a multiple of {PAGE_SIZE} (whole pages), got {head}")
        if not 0.0 <= self.blend <= 1.0:
            raise RequestError(f"blend must be in [0, 1], got {self.blend}")

    @property
    def placed_tokens(self) -> int:
        return max(0, len(self.handle) - self.recompute_head)


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

    def live_for(self, token_ids: list[int], preamble: Tokens = ()) -> SegmentHandle | None:
        handle = self.live.get(content_hash(token_ids, preamble))
        if handle is None or handle.token_ids != tuple(token_ids) or handle.preamble != tuple(preamble):
            return None
        return handle

    def lookup(self, token_ids: list[int], preamble: Tokens = ()) -> SegmentHandle | None:
        """A live handle for these tokens, now held once more by the caller; None on a miss."""
        handle = self.live_for(token_ids, preamble)
        if handle is None:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        self.acquire(handle)
        return handle

    def register(self, token_ids: list[int], page_ids: list[int],
                 preamble: Tokens = ()) -> SegmentHandle:
        """Adopt freshly computed pages (their references pass to the handle), held once."""
        handle = SegmentHandle(self._next_id, content_hash(token_ids, preamble), tuple(token_ids),
                               tuple(page_ids), tuple(preamble))
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
