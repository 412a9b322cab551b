"""Bad requests get a 4xx with an OpenAI-style error body naming the problem; the server goes on."""

from __future__ import annotations

import httpx
import pytest

GOOD = {"model": "tiny", "prompt": "def f(x):", "max_tokens": 2, "temperature": 0}


def post(server, **kwargs) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/completions", **kwargs)


def assert_error(response: httpx.Response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param"}
    for word in words:
        assert word in error["message"]
    return error


def test_invalid_json(server) -> None:
    response = post(server, content=b'{"prompt": "x", ', headers={"content-type": "application/json"})
    assert_error(response, 400, "not valid JSON")


def test_body_must_be_an_object(server) -> None:
    assert_error(post(server, json=["prompt"]), 400, "JSON object")


@pytest.mark.parametrize(("change", "param", "words"), [
    ({"max_tokens": "ten"}, "max_tokens", ("integer",)),
    ({"max_tokens": True}, "max_tokens", ("integer",)),
    ({"max_tokens": 0}, "max_tokens", ("at least 1",)),
    ({"temperature": "hot"}, "temperature", ("number",)),
    ({"temperature": 3}, "temperature", ("[0.0, 2.0]",)),
    ({"top_p": 0}, "top_p", ("above 0",)),
    ({"stop": 5}, "stop", ("string",)),
    ({"stop": [""]}, "stop", ("empty",)),
    ({"stream": "yes"}, "stream", ("bool",)),
    ({"prompt": 42}, "prompt", ("string or a list of token ids",)),
    ({"prompt": ""}, "prompt", ("empty",)),
    ({"prompt": [1, "a"]}, "prompt", ("token ids",)),
    ({"prompt": ["a", "b"]}, "prompt", ("one prompt",)),
    ({"prompt": [10**9]}, "prompt", ("outside the vocabulary",)),
    ({"n": 2}, "n", ("not supported",)),
    ({"logprobs": 1}, "logprobs", ("not supported",)),
    ({"echo": True}, "echo", ("not supported",)),
    ({"temprature": 0.5}, "temprature", ("unknown field",)),
    ({"stream_options": {"include_usage": True}}, "stream_options", ("stream=true",)),
])
def test_wrong_fields_name_the_problem(server, change, param, words) -> None:
    error = assert_error(post(server, json={**GOOD, **change}), 400, *words)
    assert error["param"] == param


def test_missing_prompt(server) -> None:
    body = dict(GOOD)
    del body["prompt"]
    assert_error(post(server, json=body), 400, "prompt")


def test_max_tokens_over_the_limit(start_server) -> None:
    server = start_server(max_tokens_limit=8)
    assert_error(post(server, json={**GOOD, "max_tokens": 9}), 400, "limit of 8")
    assert post(server, json={**GOOD, "max_tokens": 8}).status_code == 200


def test_prompt_longer_than_the_context(server) -> None:
    too_long = [5] * (server.engine.max_model_len + 1)
    assert_error(post(server, json={**GOOD, "prompt": too_long}), 400, "context")


def test_body_too_large(start_server) -> None:
    server = start_server(max_request_bytes=2048)
    assert_error(post(server, json={**GOOD, "prompt": "x" * 4000}), 413, "limit")
    assert post(server, json=GOOD).status_code == 200


def test_body_too_large_without_content_length(start_server) -> None:
    server = start_server(max_request_bytes=2048)

    def chunks():
        yield b'{"prompt": "'
        yield b"x" * 4000
        yield b'"}'

    assert_error(post(server, content=chunks()), 413, "limit")


def test_unknown_route_and_wrong_method_are_json_errors(server) -> None:
    assert_error(httpx.get(f"{server.url}/v1/nothing"), 404, "/v1/nothing")
    assert_error(httpx.get(f"{server.url}/v1/completions"), 405)


def test_the_server_still_answers_after_bad_requests(server) -> None:
    for _ in range(3):
        post(server, content=b"{{{")
    response = post(server, json=GOOD)
    assert response.status_code == 200 and response.json()["choices"][0]["text"] is not None
