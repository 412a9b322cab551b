"""POST /v1/completions through the official openai client and httpx against a real server."""

from __future__ import annotations

import httpx
import openai
import pytest

from codepager.engine.config import SamplingParams

PROMPT = "def read_config(path):\n    "


def client(server, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=kwargs.pop("api_key", "unused"), max_retries=0,
                         **kwargs)


def local_greedy(server, prompt, **params) -> str:
    """The same engine weights, called directly: what the endpoint must return."""
    from codepager.engine.llm_engine import LLMEngine

    engine = LLMEngine(server.engine.loaded, server.engine.config)
    return engine.generate([prompt], SamplingParams(**params))[0]


def test_completion_equals_the_engine_greedy(server) -> None:
    result = client(server).completions.create(model="tiny", prompt=PROMPT, max_tokens=12, temperature=0)
    expected = local_greedy(server, PROMPT, max_tokens=12)
    choice = result.choices[0]
    assert choice.text == expected.text and choice.text
    assert choice.finish_reason == expected.finish_reason
    assert result.model == "tiny" and result.object == "text_completion"
    assert result.usage.prompt_tokens == expected.num_prompt_tokens
    assert result.usage.completion_tokens == len(expected.token_ids)


def test_token_id_prompt_and_repeat_hits_the_prefix_cache(server) -> None:
    ids = server.engine.encode_prompt(PROMPT * 3)  # > one 16-token page, so a repeat can hit
    body = {"prompt": ids, "max_tokens": 4, "temperature": 0}
    first = httpx.post(f"{server.url}/v1/completions", json=body)
    again = httpx.post(f"{server.url}/v1/completions", json=body)
    assert first.status_code == again.status_code == 200
    assert first.json()["choices"][0]["text"] == again.json()["choices"][0]["text"]
    assert first.json()["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert again.json()["usage"]["prompt_tokens_details"]["cached_tokens"] >= 16


def test_stop_string_ends_the_text_before_it(server) -> None:
    full = local_greedy(server, PROMPT, max_tokens=24, ignore_eos=True).text
    stop = full[len(full) // 2:][:2]
    assert stop and stop in full
    result = client(server).completions.create(model="tiny", prompt=PROMPT, max_tokens=24, temperature=0,
                                               stop=[stop], extra_body={"ignore_eos": True})
    assert result.choices[0].text == full[:full.index(stop)]
    assert result.choices[0].finish_reason == "stop"


def test_max_tokens_ends_with_length(server) -> None:
    result = client(server).completions.create(model="tiny", prompt=PROMPT, max_tokens=3, temperature=0,
                                               extra_body={"ignore_eos": True})
    assert result.choices[0].finish_reason == "length"
    assert result.usage.completion_tokens == 3


def test_sampling_with_seed_is_repeatable(server) -> None:
    ask = dict(model="tiny", prompt=PROMPT, max_tokens=8, temperature=0.9, top_p=0.95, seed=7,
               extra_body={"ignore_eos": True})
    first = client(server).completions.create(**ask).choices[0].text
    second = client(server).completions.create(**ask).choices[0].text
    assert first == second


def test_models_and_health(server) -> None:
    models = client(server).models.list()
    assert [m.id for m in models.data] == ["tiny"]
    health = httpx.get(f"{server.url}/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_unknown_model_is_404_with_an_error_body(server) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(server).completions.create(model="gpt-4", prompt=PROMPT, max_tokens=2)
    assert "gpt-4" in caught.value.body["message"]
