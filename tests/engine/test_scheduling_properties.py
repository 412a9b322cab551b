"""Random submit / step / cancel / finish / segment sequences on the torch-free scheduling core: no
page leaks or is freed twice, reference counts equal their holders, cached free pages are
accounted, and a finished or cancelled request never grows again."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from codepager.engine.block_manager import BlockManager
from codepager.engine.config import SamplingParams
from codepager.engine.scheduler import Scheduler
from codepager.engine.segments import SegmentHandle
from codepager.engine.sequence import Sequence, SequenceStatus
from codepager.errors import RequestError

EOS = 0
# few distinct tokens and shared prefixes so that prefix-cache hits and evictions are frequent
PREFIXES = [[], [1] * 16, [2] * 16 + [3] * 16, [4] * 8, [1] * 16 + [5] * 20]


class Driver:
    def __init__(self, rng: random.Random, num_pages: int, budget: int, max_seqs: int, caching: bool):
        self.rng = rng
        self.bm = BlockManager(num_pages, enable_prefix_caching=caching)
        self.scheduler = Scheduler(self.bm, max_num_seqs=max_seqs, max_num_batched_tokens=budget,
                                   max_model_len=150, eos_token_ids=[EOS])
        self.sequences: list[Sequence] = []
        self.handles: list[SegmentHandle] = []  # one entry per hold we own
        self.adopted: set[int] = set()
        self.final_lengths: dict[int, int] = {}

    def tokens(self, low: int, high: int) -> list[int]:
        return [self.rng.randint(1, 3) for _ in range(self.rng.randint(low, high))]

    def submit(self) -> None:
        rng = self.rng
        body = rng.choice(PREFIXES) + self.tokens(1, 30)
        if rng.random() < 0.2:  # page-aligned repeats: the whole prompt can be a cache hit
            body = rng.choice(PREFIXES[1:])
        parts: list = [body]
        if self.handles and rng.random() < 0.5:
            extra = [rng.choice(self.handles)] * rng.randint(0, 1)
            parts = [rng.choice(PREFIXES), rng.choice(self.handles), *extra, self.tokens(1, 10)]
        self.add(Sequence(parts, SamplingParams(max_tokens=rng.randint(1, 40))))

    def encode_segment(self) -> None:
        body = self.tokens(1, 40)
        handle = self.scheduler.segments.lookup(body)
        if handle is not None:
            self.handles.append(handle)
        else:
            self.add(Sequence([body], SamplingParams(), encode_only=True))

    def add(self, seq: Sequence) -> None:
        try:
            self.scheduler.add(seq)
        except RequestError as err:
            assert "KV pages" in str(err) or "context" in str(err), err
            return
        self.sequences.append(seq)

    def release_segment(self) -> None:
        if self.handles:
            self.scheduler.segments.release(self.handles.pop(self.rng.randrange(len(self.handles))))

    def cancel(self) -> None:
        if self.sequences:
            seq = self.rng.choice(self.sequences)
            self.scheduler.cancel(seq)
            assert seq.is_finished and not seq.block_table

    def step(self) -> None:
        chunks = self.scheduler.schedule()
        for chunk in chunks:
            assert chunk.seq.status is SequenceStatus.RUNNING
            assert len(chunk.seq.block_table) == chunk.seq.num_pages()
            assert chunk.positions or chunk.seq.encode_only, "a sampling chunk computes nothing"
            for position in chunk.positions:  # a computed position is never inside a segment
                assert chunk.seq.span_at(position).segment is None
        assert sum(len(c.positions) for c in chunks) <= self.scheduler.max_num_batched_tokens
        sampled = {c.seq.seq_id: self.rng.randrange(12) for c in chunks if c.samples}
        self.scheduler.postprocess(chunks, sampled)
        for seq in self.sequences:
            if seq.segment_handle is not None and seq.seq_id not in self.adopted:
                self.adopted.add(seq.seq_id)  # each encoded sequence hands over one hold
                self.handles.append(seq.segment_handle)

    def check(self) -> None:
        self.bm.check_invariants(self.scheduler.holders())
        for seq in self.sequences:
            if seq.status is not SequenceStatus.RUNNING:
                assert not seq.block_table
            if seq.is_finished:
                assert len(seq) == self.final_lengths.setdefault(seq.seq_id, len(seq)), "finished seq grew"

    def drain(self) -> None:
        for seq in self.sequences:
            self.scheduler.cancel(seq)
        for handle in self.handles:
            self.scheduler.segments.release(handle)
        self.bm.check_invariants(self.scheduler.holders())
        assert self.bm.num_free_pages == self.bm.num_pages
        assert all(page.ref_count == 0 for page in self.bm.pages)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), num_pages=st.integers(3, 24), budget=st.integers(1, 48),
       max_seqs=st.integers(1, 5), caching=st.booleans())
def test_random_operations_keep_pages_balanced(seed, num_pages, budget, max_seqs, caching):
    rng = random.Random(seed)
    driver = Driver(rng, num_pages, budget, max_seqs, caching)
    operations = [driver.submit] * 3 + [driver.step] * 8 + [driver.cancel, driver.encode_segment,
                                                           driver.release_segment]
    for _ in range(150):
        rng.choice(operations)()
        driver.check()
    while not driver.scheduler.is_finished() and rng.random() < 0.98:
        driver.step()
        driver.check()
    event(f"preempted: {driver.scheduler.num_preemptions > 0}")
    event(f"prefix-cache hits: {driver.bm.cache_hit_tokens > 0}")
    event(f"segments placed: {any(s.segments for s in driver.sequences)}")
    event(f"cached pages evicted: {driver.bm.evictions > 0}")
    driver.drain()
