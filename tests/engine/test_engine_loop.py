"""The thread-safe front: a background thread steps the engine; submit / cancel from any thread."""

from __future__ import annotations

import threading

from codepager.engine.config import SamplingParams
from codepager.engine.engine_loop import EngineLoop

PARAMS = SamplingParams(max_tokens=16, ignore_eos=True)


def test_concurrent_submissions_stream_the_same_tokens_as_a_direct_run(make_engine):
    prompts = ["def add(a, b):", "class Cache:", "import os\n"]
    expected = [o.token_ids for o in make_engine().generate(prompts, PARAMS)]
    results: dict[int, list[int]] = {}
    with EngineLoop(make_engine()) as loop:
        def client(i: int) -> None:
            streamed = []
            for out in loop.submit(prompts[i], PARAMS):
                streamed += out.new_token_ids
            results[i] = streamed

        threads = [threading.Thread(target=client, args=(i,)) for i in range(len(prompts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert [results[i] for i in range(len(prompts))] == expected
        stats = loop.stats()
        assert stats.free_pages == stats.num_pages and stats.running == 0


def test_cancel_from_another_thread_frees_pages_and_ends_the_stream(make_engine):
    with EngineLoop(make_engine()) as loop:
        handle = loop.submit("class Cache:", SamplingParams(max_tokens=2000, ignore_eos=True))
        first = next(iter(handle))
        assert first.new_token_ids
        canceller = threading.Thread(target=handle.cancel)
        canceller.start()
        canceller.join(timeout=60)
        stats = loop.stats()
        assert stats.free_pages == stats.num_pages and stats.running == 0
        final = handle.result()
        assert final.finish_reason == "cancelled" and len(final.token_ids) < 2000
        loop.cancel("unknown-id")  # harmless


def test_segments_through_the_loop(make_engine):
    with EngineLoop(make_engine()) as loop:
        segment = loop.engine.tokenizer.encode("def get(self, key):\n    return self.items.get(key)\n")
        tail = loop.engine.tokenizer.encode("x =")
        handle = loop.encode_segment(segment)
        out = loop.submit([[1], handle, tail], PARAMS).result()
        assert out.prompt_tokens_computed == 1 + len(tail)  # the segment is not recomputed
        assert len(out.token_ids) == PARAMS.max_tokens
        loop.release_segment(handle)
        assert loop.stats().live_segments == 0
