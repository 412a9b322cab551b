"""The KV page pool's bookkeeping: reference counts, free pages, and the prefix cache.

Every page is in exactly one of three states: in use (ref_count > 0), free and uncached, or free
and cached (ref_count 0 but still holding the KV of a known hash; kept in LRU order, reused as a
cache hit, or evicted oldest first when a fresh page is needed).

A sealed page (one that will never be appended to) gets a hash chained over everything before it,
vLLM style: hash(parent, start, token ids) for own pages, hash(parent, offset, segment content)
for a placed segment. Hashes are registered only once the page's KV is computed, so a request
never hits a page that is still being written.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from codepager.engine.sequence import PAGE_SIZE, Sequence

ROOT_HASH = b"codepager-root"


def chain_hash(parent: bytes, kind: bytes, start: int, payload: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(parent)
    h.update(kind)
    h.update(start.to_bytes(8, "little", signed=True))  # a segment shift may be negative
    h.update(payload)
    return h.digest()


@dataclass(slots=True)
class PagePlan:
    """A sequence's admission plan: page per logical page (segment page, cache hit, or None =
    fresh), the leading cached positions / pages, and the own prompt tokens served by the cache."""

    key: tuple[int, int]  # (block manager cache version, sequence length) it was made for
    page_ids: list[int | None]
    cached_until: int
    cached_pages: int
    cached_own_tokens: int


def _full_leading_pages(seq: Sequence) -> int:
    """Full pages of the sequence's first span (an own run starting at position 0)."""
    first = seq.spans[0]
    return (len(seq) if len(seq.spans) == 1 else first.length) // PAGE_SIZE


class Page:
    __slots__ = ("page_id", "ref_count", "hash")

    def __init__(self, page_id: int) -> None:
        self.page_id = page_id
        self.ref_count = 0
        self.hash: bytes | None = None


class BlockManager:
    def __init__(self, num_pages: int, *, enable_prefix_caching: bool = True) -> None:
        self.num_pages = num_pages
        self.enable_prefix_caching = enable_prefix_caching
        self.pages = [Page(i) for i in range(num_pages)]
        self.free_uncached: deque[int] = deque(range(num_pages))
        self.free_cached: OrderedDict[int, None] = OrderedDict()  # oldest first
        self.hash_to_page: dict[bytes, int] = {}
        self._donor: Sequence | None = None  # the last sequence hashed: its hashes seed the next one
        self._cache_version = 0  # bumped whenever hash_to_page changes (plans made before are stale)
        self.cache_hit_tokens = 0
        self.evictions = 0

    @property
    def num_free_pages(self) -> int:
        return len(self.free_uncached) + len(self.free_cached)

    # -- single pages -------------------------------------------------------------------------

    def _take_free_page(self) -> int:
        if self.free_uncached:
            page_id = self.free_uncached.popleft()
        else:
            page_id, _ = self.free_cached.popitem(last=False)
            page = self.pages[page_id]
            del self.hash_to_page[page.hash]
            page.hash = None
            self._cache_version += 1
            self.evictions += 1
        self.pages[page_id].ref_count = 1
        return page_id

    def _ref_all(self, page_ids: Iterable[int]) -> None:
        """One more reference to each page (a free cached page leaves the free list)."""
        pages, free_cached = self.pages, self.free_cached
        for page_id in page_ids:
            page = pages[page_id]
            if page.ref_count == 0:
                assert page.hash is not None, f"page {page_id} is free and uncached"
                del free_cached[page_id]
            page.ref_count += 1

    def _unref(self, page_id: int) -> None:
        page = self.pages[page_id]
        assert page.ref_count > 0, f"page {page_id} freed twice"
        page.ref_count -= 1
        if page.ref_count == 0:
            if page.hash is not None:
                self.free_cached[page_id] = None
            else:
                self.free_uncached.append(page_id)

    def take_free_pages(self, count: int) -> list[int]:
        """`count` pages, each referenced once by the caller (who must unref them); evicts cached
        free pages oldest first. Raises ValueError when fewer are free."""
        if count > self.num_free_pages:
            raise ValueError(f"{count} pages asked, {self.num_free_pages} free")
        return [self._take_free_page() for _ in range(count)]

    def unref_pages(self, page_ids: Iterable[int]) -> None:
        for page_id in page_ids:
            self._unref(page_id)

    # -- hashes -------------------------------------------------------------------------------

    def _page_hash(self, seq: Sequence, index: int) -> bytes:
        """Chain hash of sealed logical page `index` (memoised on the sequence)."""
        if index >= len(seq.page_hashes):
            self._extend_hashes(seq, index + 1)
        return seq.page_hashes[index]

    def _extend_hashes(self, seq: Sequence, count: int) -> None:
        """Memoise the chain hashes of the first `count` logical pages (all sealed), in one pass."""
        hashes = seq.page_hashes
        if not hashes:
            hashes.extend(self._donor_hashes(seq, count))
        done = len(hashes)
        if count <= done:
            return
        first, last = seq.page_entry(done), seq.page_entry(count - 1)
        offset = first.start
        tokens = memoryview(array("q", seq.token_ids[offset:last.start + last.length]))
        parent = hashes[-1] if hashes else ROOT_HASH
        span = None
        for index in range(done, count):
            entry = seq.page_entry(index)
            assert entry.sealed, "only sealed pages are hashed"
            if entry.segment_page is None:
                lo = entry.start - offset
                parent = chain_hash(parent, b"own", entry.start, tokens[lo:lo + entry.length])
            else:
                if span is None or not span.start <= entry.start < span.start + span.length:
                    span = seq.span_at(entry.start)
                if span.first_page == index:  # a placed segment is one link, shared by all its pages
                    parent = chain_hash(parent, b"seg", entry.shift, span.link_key)
            hashes.append(parent)
        if seq.spans[0].segment is None:
            self._donor = seq

    def _donor_hashes(self, seq: Sequence, count: int) -> list[bytes]:
        """Hashes of `seq`'s leading full own pages copied from the last hashed sequence where both
        hold the same tokens (the next keystroke's prompt repeats the last one's): a full page of a
        prompt's first own run hashes only the tokens up to its end."""
        donor = self._donor
        if donor is None or seq.spans[0].segment is not None:
            return []
        limit = min(count, len(donor.page_hashes), _full_leading_pages(donor), _full_leading_pages(seq))
        a, b = donor.token_ids, seq.token_ids

        def shared(pages: int) -> bool:
            return a[:pages * PAGE_SIZE] == b[:pages * PAGE_SIZE]

        # usually only the last page or two differ: gallop back from the end, then bisect
        good, bad, step = limit, limit + 1, 1
        while good > 0 and not shared(good):
            bad, good, step = good, max(good - step, 0), step * 2
        while bad - good > 1:  # the first `good` pages are shared, the first `bad` are not
            mid = (good + bad) // 2
            good, bad = (mid, bad) if shared(mid) else (good, mid)
        return donor.page_hashes[:good]

    # -- sequences ----------------------------------------------------------------------------

    def _plan(self, seq: Sequence) -> PagePlan:
        """Page per logical page (segment page, cache hit, or None = fresh) and what is cached;
        memoised on the sequence until the prefix cache's content or the sequence's length changes."""
        key = (self._cache_version, len(seq))
        plan = seq.page_plan
        if isinstance(plan, PagePlan) and plan.key == key:
            return plan
        page_ids: list[int | None] = []
        cached_until = cached_pages = cached_own_tokens = 0
        hitting = self.enable_prefix_caching
        lookup = self.hash_to_page.get
        entries = seq.page_entries()
        if hitting:  # every sealed page is hashed by its commit anyway: hash them all at once here
            self._extend_hashes(seq, len(entries) - (not entries[-1].sealed))
        for index, entry in enumerate(entries):
            if entry.blended:  # a private copy: fresh page, and what follows it is not cached
                page_ids.append(None)
                hitting = False
                continue
            if entry.segment_page is not None:
                page_ids.append(entry.segment_page)
                if hitting:
                    cached_until, cached_pages = entry.start + entry.length, index + 1
                continue
            page_id = lookup(seq.page_hashes[index]) if hitting and entry.sealed else None
            if page_id is None:
                hitting = False
            else:
                cached_until, cached_pages = entry.start + entry.length, index + 1
                cached_own_tokens += entry.length
            page_ids.append(page_id)
        plan = seq.page_plan = PagePlan(key, page_ids, cached_until, cached_pages, cached_own_tokens)
        return plan

    def _fresh_pages_needed(self, plan: PagePlan) -> int:
        pages = self.pages
        return sum(1 for p in plan.page_ids if p is None or pages[p].ref_count == 0)

    def can_allocate(self, seq: Sequence) -> bool:
        return self._fresh_pages_needed(self._plan(seq)) <= self.num_free_pages

    def allocate(self, seq: Sequence) -> None:
        """Give every current token a page: segment pages, prefix-cache hits, fresh pages."""
        assert not seq.block_table, "sequence already has pages"
        plan = self._plan(seq)
        self._ref_all(page_id for page_id in plan.page_ids if page_id is not None)
        seq.block_table = [p if p is not None else self._take_free_page() for p in plan.page_ids]
        seq.num_committed_pages = plan.cached_pages
        seq.prompt_tokens_cached = plan.cached_own_tokens
        self.cache_hit_tokens += seq.prompt_tokens_cached
        # At least one token must run through the model to produce logits: recompute the last
        # one without storing it (its KV is already in a cached page).
        cached_until = plan.cached_until
        seq.num_cached_tokens = cached_until
        if cached_until >= len(seq) and not seq.encode_only:
            seq.num_cached_tokens = len(seq)
            cached_until = seq.own_positions(0, len(seq))[-1]
        seq.set_computed(cached_until)

    def deallocate(self, seq: Sequence) -> None:
        for page_id in reversed(seq.block_table):
            self._unref(page_id)
        seq.reset_progress()

    def can_append(self, seq: Sequence) -> bool:
        return self.num_free_pages >= seq.num_pages() - len(seq.block_table)

    def may_append(self, seq: Sequence) -> None:
        """Give newly appended tokens pages (at most one page per generated token)."""
        while len(seq.block_table) < seq.num_pages():
            seq.block_table.append(self._take_free_page())

    def pages_to_reserve(self, seq: Sequence, length: int) -> int:
        """Fresh pages `seq` needs for its first `length` positions."""
        return max(0, seq.num_pages(length) - len(seq.block_table))

    def reserve(self, seq: Sequence, length: int) -> None:
        """Pages for positions the sequence does not hold yet (a decode burst writes the KV of tokens
        it has not reported); the table then runs ahead of the page layout until they are appended.
        Tokens dropped after a finish never reach a hashed page: only committed pages are hashed."""
        while len(seq.block_table) < seq.num_pages(length):
            seq.block_table.append(self._take_free_page())

    def commit_computed_pages(self, seq: Sequence) -> None:
        """Register the hashes of sealed pages whose KV is now fully computed."""
        while seq.num_committed_pages < len(seq.block_table):
            index = seq.num_committed_pages
            entry = seq.page_entry(index)
            if not entry.sealed or entry.start + entry.length > seq.num_computed_tokens:
                return
            seq.num_committed_pages += 1
            if not self.enable_prefix_caching or entry.segment_page is not None:
                continue
            page = self.pages[seq.block_table[index]]
            h = self._page_hash(seq, index)
            if page.hash is None and h not in self.hash_to_page:
                page.hash = h
                self.hash_to_page[h] = page.page_id
                self._cache_version += 1

    # -- invariants (tests) -------------------------------------------------------------------

    def check_invariants(self, holders: Iterable[Iterable[int]]) -> None:
        """Every page is in exactly one state and each in-use page's count equals its holders."""
        expected = [0] * self.num_pages
        for table in holders:
            for page_id in table:
                expected[page_id] += 1
        uncached, cached = set(self.free_uncached), set(self.free_cached)
        assert len(uncached) == len(self.free_uncached), "page freed twice (uncached list)"
        assert not uncached & cached, "page both cached and uncached free"
        for page in self.pages:
            assert page.ref_count == expected[page.page_id], (
                f"page {page.page_id}: ref_count {page.ref_count} != holders {expected[page.page_id]}")
            in_free = (page.page_id in uncached) + (page.page_id in cached)
            assert in_free == (page.ref_count == 0), f"page {page.page_id} leaked or double-listed"
            if page.page_id in cached:
                assert page.hash is not None
            if page.page_id in uncached:
                assert page.hash is None
            if page.hash is not None:
                assert self.hash_to_page[page.hash] == page.page_id
        assert len(self.hash_to_page) == sum(p.hash is not None for p in self.pages)
