"""The OpenAI completions wire format: a request body checked field by field into a
CompletionRequest, and the response / stream-chunk / error bodies.

Unknown fields are rejected (a typo must not silently change sampling); OpenAI fields this server
does not implement are accepted only at their neutral value. vLLM's `stop_token_ids` and
`ignore_eos` extensions are accepted too.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from codepager.engine.config import SamplingParams
from codepager.engine.outputs import RequestOutput
from codepager.http.config import HttpConfig

# field -> the only value(s) accepted: features of the API this server does not implement
NEUTRAL_FIELDS: dict[str, tuple[Any, ...]] = {
    "n": (1,), "best_of": (None, 1), "echo": (False,), "logprobs": (None,), "suffix": (None, ""),
    "presence_penalty": (0, 0.0), "frequency_penalty": (0, 0.0), "logit_bias": (None, {}),
}
KNOWN_FIELDS = frozenset({
    "model", "prompt", "max_tokens", "temperature", "top_p", "stop", "stream", "stream_options", "seed",
    "user", "stop_token_ids", "ignore_eos", *NEUTRAL_FIELDS,
})
DEFAULT_MAX_TOKENS = 16  # OpenAI's default


class BadRequest(Exception):
    """A request the client got wrong: status, one-line message, the offending field."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None,
                 code: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.code = code


@dataclass(slots=True)
class CompletionRequest:
    prompt: str | list[int]
    params: SamplingParams
    stream: bool = False
    include_usage: bool = False
    model: str | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    id: str = field(default_factory=lambda: f"cmpl-{uuid.uuid4().hex}")


def parse_completion_request(body: bytes, config: HttpConfig, vocab_size: int) -> CompletionRequest:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadRequest(f"request body is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    unknown = sorted(set(data) - KNOWN_FIELDS)
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}", param=unknown[0])
    for name, accepted in NEUTRAL_FIELDS.items():
        if name in data and not any(_same(data[name], value) for value in accepted):
            raise BadRequest(f"{name}={data[name]!r} is not supported by this server", param=name)
    if "prompt" not in data:
        raise BadRequest("missing field: prompt", param="prompt")
    model = _optional(data, "model", str)
    max_tokens = _integer(data, "max_tokens", min(DEFAULT_MAX_TOKENS, config.max_tokens_limit), low=1)
    if max_tokens > config.max_tokens_limit:
        raise BadRequest(f"max_tokens={max_tokens} is above this server's limit of {config.max_tokens_limit}",
                         param="max_tokens")
    temperature = _number(data, "temperature", 1.0, low=0.0, high=2.0)
    top_p = _number(data, "top_p", 1.0, low=0.0, high=1.0)
    if top_p == 0.0:
        raise BadRequest("top_p must be above 0", param="top_p")
    seed = data.get("seed")
    if seed is not None and not _is_int(seed):
        raise BadRequest("seed must be an integer", param="seed")
    stop = _stop_strings(data.get("stop"), config.max_stop_strings)
    stop_token_ids = data.get("stop_token_ids")
    if stop_token_ids is not None:
        stop_token_ids = _token_ids(stop_token_ids, vocab_size, "stop_token_ids", allow_empty=True)
    ignore_eos = _optional(data, "ignore_eos", bool) or False
    stream = _optional(data, "stream", bool) or False
    include_usage = _stream_options(data.get("stream_options"), stream)
    _optional(data, "user", str)
    params = SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed, stop=stop,
                            stop_token_ids=stop_token_ids, ignore_eos=ignore_eos)
    return CompletionRequest(prompt=_prompt(data["prompt"], vocab_size), params=params, stream=stream,
                             include_usage=include_usage, model=model)


def _prompt(value: Any, vocab_size: int) -> str | list[int]:
    """A string, token ids, or a one-element list of either (one prompt per request)."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str | list):
        value = value[0]
    if isinstance(value, str):
        if not value:
            raise BadRequest("prompt must not be empty", param="prompt")
        return value
    if isinstance(value, list) and value and all(isinstance(v, str | list) for v in value):
        raise BadRequest("one prompt per request: send a string or a list of token ids", param="prompt")
    if isinstance(value, list):
        return _token_ids(value, vocab_size, "prompt", allow_empty=False)
    raise BadRequest("prompt must be a string or a list of token ids", param="prompt")


def _token_ids(value: Any, vocab_size: int, name: str, *, allow_empty: bool) -> list[int]:
    if not isinstance(value, list) or not all(_is_int(v) for v in value):
        raise BadRequest(f"{name} must be a list of integer token ids", param=name)
    if not value and not allow_empty:
        raise BadRequest(f"{name} must not be empty", param=name)
    bad = [v for v in value if not 0 <= v < vocab_size]
    if bad:
        raise BadRequest(f"{name} has token id {bad[0]} outside the vocabulary (0..{vocab_size - 1})",
                         param=name)
    return list(value)


def _stop_strings(value: Any, limit: int) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise BadRequest("stop must be a string or a list of strings", param="stop")
    if any(not s for s in stops):
        raise BadRequest("stop strings must not be empty", param="stop")
    if len(stops) > limit:
        raise BadRequest(f"at most {limit} stop strings, got {len(stops)}", param="stop")
    return list(stops)


def _stream_options(value: Any, stream: bool) -> bool:
    if value is None:
        return False
    if not stream:
        raise BadRequest("stream_options is only allowed with stream=true", param="stream_options")
    if not isinstance(value, dict) or set(value) - {"include_usage"}:
        raise BadRequest("stream_options must be an object with only include_usage", param="stream_options")
    include = value.get("include_usage", False)
    if not isinstance(include, bool):
        raise BadRequest("stream_options.include_usage must be a boolean", param="stream_options")
    return include


def _optional(data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if value is not None and not isinstance(value, kind):
        raise BadRequest(f"{name} must be a {kind.__name__}", param=name)
    return value


def _integer(data: dict[str, Any], name: str, default: int, *, low: int) -> int:
    value = data.get(name)
    if value is None:
        return default
    if not _is_int(value):
        raise BadRequest(f"{name} must be an integer", param=name)
    if value < low:
        raise BadRequest(f"{name} must be at least {low}, got {value}", param=name)
    return value


def _number(data: dict[str, Any], name: str, default: float, *, low: float, high: float) -> float:
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{name} must be a number", param=name)
    if not low <= value <= high:
        raise BadRequest(f"{name} must be in [{low}, {high}], got {value}", param=name)
    return float(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _same(value: Any, accepted: Any) -> bool:
    if isinstance(value, bool) != isinstance(accepted, bool):
        return False
    if isinstance(value, int | float) and isinstance(accepted, int | float):
        return value == accepted
    return type(value) is type(accepted) and value == accepted


# -- response bodies ------------------------------------------------------------------------------


def usage(final: RequestOutput) -> dict[str, Any]:
    completion = len(final.token_ids)
    return {"prompt_tokens": final.num_prompt_tokens, "completion_tokens": completion,
            "total_tokens": final.num_prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": final.prompt_tokens_cached}}


def completion_body(request: CompletionRequest, model: str, final: RequestOutput) -> dict[str, Any]:
    choice = {"index": 0, "text": final.text, "logprobs": None, "finish_reason": final.finish_reason}
    return {"id": request.id, "object": "text_completion", "created": request.created, "model": model,
            "choices": [choice], "usage": usage(final)}


def chunk_body(request: CompletionRequest, model: str, text: str, finish_reason: str | None,
               usage_body: dict[str, Any] | None = None) -> dict[str, Any]:
    choices = [] if usage_body is not None else [
        {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}]
    body = {"id": request.id, "object": "text_completion", "created": request.created, "model": model,
            "choices": choices}
    if request.include_usage:
        body["usage"] = usage_body
    return body


def sse_event(body: dict[str, Any] | str) -> bytes:
    data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


def error_body(message: str, *, code: str = "invalid_request_error",
               param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "param": param, "code": None}}
