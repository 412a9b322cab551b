"""Server-sent events, and a client that disconnects cancelling its generation in the engine."""

from __future__ import annotations

import json
import time

import httpx
import openai

from codepager.engine.config import SamplingParams

PROMPT = "class Cache:\n    def get(self, key):\n        "


def wait_until_idle(server, deadline_s: float = 30.0) -> None:
    """The engine has no running or queued request (a deadline only guards against a hang)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        stats = server.loop.stats()
        if stats.running == 0 and stats.waiting == 0:
            return
        time.sleep(0.01)
    raise AssertionError("the engine kept working after the client left")


def test_stream_deltas_join_to_the_greedy_completion(server) -> None:
    from codepager.engine.llm_engine import LLMEngine

    expected = LLMEngine(server.engine.loaded, server.engine.config).generate(
        [PROMPT], SamplingParams(max_tokens=16, ignore_eos=True))[0]
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    chunks = list(client.completions.create(model="tiny", prompt=PROMPT, max_tokens=16, temperature=0,
                                            stream=True, stream_options={"include_usage": True},
                                            extra_body={"ignore_eos": True}))
    texts = [c.choices[0].text for c in chunks if c.choices]
    assert len(texts) > 1  # streamed, not one block
    assert "".join(texts) == expected.text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 16


def test_stream_ends_with_done_and_stop_strings_apply(server) -> None:
    body = {"prompt": PROMPT, "max_tokens": 20, "temperature": 0, "stream": True, "ignore_eos": True}
    whole = httpx.post(f"{server.url}/v1/completions", json={**body, "stream": False})
    full = whole.json()["choices"][0]["text"]
    stop = full[5:7]
    with httpx.stream("POST", f"{server.url}/v1/completions", json={**body, "stop": stop}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == full[:full.index(stop)]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_disconnect_cancels_the_generation(start_server) -> None:
    server = start_server(max_tokens_limit=1900)
    before = server.loop.stats().tokens_computed
    body = {"prompt": PROMPT, "max_tokens": 1900, "temperature": 0, "stream": True, "ignore_eos": True}
    with httpx.stream("POST", f"{server.url}/v1/completions", json=body) as response:
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert json.loads(first[6:])["choices"][0]["finish_reason"] is None
    # leaving the block closed the connection mid-stream
    wait_until_idle(server)
    computed = server.loop.stats().tokens_computed - before
    assert computed < 1900  # stopped long before max_tokens
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'codepager_completions_total{finish_reason="cancelled"} 1' in metrics
    assert server.loop.stats().free_pages == server.loop.stats().num_pages


def test_non_streaming_disconnect_cancels_the_generation(start_server) -> None:
    server = start_server(max_tokens_limit=1900)
    before = server.loop.stats().tokens_computed
    body = {"prompt": PROMPT, "max_tokens": 1900, "temperature": 0, "ignore_eos": True}
    try:
        httpx.post(f"{server.url}/v1/completions", json=body, timeout=httpx.Timeout(30, read=0.3))
    except httpx.ReadTimeout:
        pass  # the client gave up and closed the connection
    else:
        raise AssertionError("1,900 tokens finished within 0.3 s; the test needs a longer generation")
    wait_until_idle(server)
    assert server.loop.stats().tokens_computed - before < 1900
    assert server.loop.stats().free_pages == server.loop.stats().num_pages


def test_server_keeps_serving_after_a_cancelled_stream(start_server) -> None:
    server = start_server()
    body = {"prompt": PROMPT, "max_tokens": 200, "temperature": 0, "stream": True, "ignore_eos": True}
    with httpx.stream("POST", f"{server.url}/v1/completions", json=body) as response:
        next(response.iter_lines())
    body = {"prompt": PROMPT, "max_tokens": 4, "temperature": 0}
    again = httpx.post(f"{server.url}/v1/completions", json=body)
    assert again.status_code == 200 and again.json()["choices"][0]["finish_reason"] in ("stop", "length")


async def test_concurrent_streams_are_served_together(server) -> None:
    import asyncio

    async def one(client: httpx.AsyncClient, i: int) -> tuple[str, dict]:
        body = {"prompt": f"{PROMPT}x{i} = ", "max_tokens": 12, "temperature": 0, "stream": True,
                "ignore_eos": True, "stream_options": {"include_usage": True}}
        async with client.stream("POST", f"{server.url}/v1/completions", json=body) as response:
            assert response.status_code == 200
            events = [line[6:] async for line in response.aiter_lines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        return "".join(c["choices"][0]["text"] for c in chunks if c["choices"]), chunks[-1]["usage"]

    async with httpx.AsyncClient(timeout=60) as client:
        results = await asyncio.gather(*(one(client, i) for i in range(4)))
    assert all(usage["completion_tokens"] == 12 for _, usage in results)
    alone = {"prompt": f"{PROMPT}x0 = ", "max_tokens": 12, "temperature": 0, "ignore_eos": True}
    sequential = httpx.post(f"{server.url}/v1/completions", json=alone)
    assert results[0][0] == sequential.json()["choices"][0]["text"]
