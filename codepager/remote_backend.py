"""The Assistant's remote backend: the assembled repository prompt goes to an OpenAI-compatible
completions server (vLLM, SGLang, another `codepager serve --http`) instead of the local engine.

The prompt is sent as token ids in the assembler's order (or as text, for servers that only take
text), so a stable repository part is a stable prefix and the server's automatic prefix cache
reuses it across requests. Streaming yields the engine's RequestOutput deltas; closing the stream
(or the generator) closes the HTTP connection, which is how these servers cancel a request.

RemoteBackend offers the part of LLMEngine the Assistant uses (tokenizer, max_model_len,
encode_prompt, stream, generate, stats, loaded.path / loaded.fingerprint) so it can stand in for
the engine. Only exact prefix reuse exists remotely: position-independent segments need our pages.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from codepager.config_fields import config_from_dict
from codepager.engine.config import SamplingParams
from codepager.engine.outputs import EngineStats, RequestOutput
from codepager.errors import ConfigError, RequestError
from codepager.model.tokenizer import Tokenizer

PROMPT_AS = ("tokens", "text")


@dataclass(slots=True)
class RemoteBackendConfig:
    """base_url ends with the API root, e.g. http://gpu-box:8000/v1. The API key is read from the
    environment variable named api_key_env (unset or empty: no Authorization header)."""

    base_url: str
    model: str
    api_key_env: str = "CODEPAGER_REMOTE_API_KEY"
    prompt_as: str = "tokens"
    max_model_len: int | None = None  # None: the server's /models answer (vLLM and codepager report it)
    timeout_s: float = 120.0
    connect_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"remote base_url must start with http:// or https://, got {self.base_url!r}")
        self.base_url = self.base_url.rstrip("/")
        if not self.model:
            raise ConfigError("remote model name must not be empty")
        if self.prompt_as not in PROMPT_AS:
            raise ConfigError(f"prompt_as must be one of {', '.join(PROMPT_AS)}, got {self.prompt_as!r}")
        if self.max_model_len is not None and self.max_model_len < 2:
            raise ConfigError(f"max_model_len must be at least 2, got {self.max_model_len}")
        if self.timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ConfigError("timeouts must be positive")

    @property
    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> RemoteBackendConfig:
        return config_from_dict(cls, settings, "remote backend")


@dataclass(slots=True)
class RemoteModel:
    """What the Assistant reads from engine.loaded: where the tokenizer came from and an identity."""

    path: Path
    fingerprint: str


class RemoteBackend:
    def __init__(self, config: RemoteBackendConfig, tokenizer: Tokenizer, tokenizer_dir: Path,
                 max_model_len: int) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.max_model_len = max_model_len
        identity = f"{config.base_url}\n{config.model}\n{tokenizer.digest}".encode()
        self.loaded = RemoteModel(tokenizer_dir, "remote-" + hashlib.sha256(identity).hexdigest()[:32])
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self.client = httpx.Client(headers=headers,
                                   timeout=httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s))
        self._stats = {"prompt": 0, "cached": 0, "completion": 0, "running": 0}

    @classmethod
    def open(cls, config: RemoteBackendConfig, tokenizer_dir: str | os.PathLike) -> RemoteBackend:
        """The tokenizer comes from a local copy of the served model's files (tokenizer.json...): the
        same tokenizer as the server's, or the token ids mean different text."""
        path = Path(tokenizer_dir)
        tokenizer = Tokenizer.from_dir(path)
        backend = cls(config, tokenizer, path, config.max_model_len or 2)
        if config.max_model_len is None:
            backend.max_model_len = backend.served_max_model_len()
        return backend

    def close(self) -> None:
        self.client.close()

    # -- what the server says about itself ----------------------------------------------------------

    def served_max_model_len(self) -> int:
        cards = self._get_json("/models").get("data") or []
        names = [c.get("id") for c in cards if isinstance(c, dict)]
        card = next((c for c in cards if isinstance(c, dict) and c.get("id") == self.config.model), None)
        if card is None:
            raise ConfigError(f"{self.config.base_url} does not serve model {self.config.model!r}; "
                              f"it serves: {', '.join(map(str, names)) or 'nothing'}")
        length = card.get("max_model_len")
        if not isinstance(length, int) or length < 2:
            raise ConfigError(f"{self.config.base_url} does not report max_model_len for "
                              f"{self.config.model!r}: set it in the remote backend settings")
        return length

    # -- requests -------------------------------------------------------------------------------------

    def encode_prompt(self, text: str) -> list[int]:
        return self.tokenizer.encode_prompt(text)

    def stream(self, prompt: Any, params: SamplingParams | None = None) -> Iterator[RequestOutput]:
        """Deltas as the server sends them; closing this iterator closes the connection (cancel)."""
        params = params or SamplingParams()
        ids = self._prompt_ids(prompt)
        body = self._body(ids, params)
        state = _StreamState(request_id="", num_prompt_tokens=len(ids))
        self._stats["running"] += 1
        try:
            with self._post_stream(body) as response:
                for event in _sse_events(response):
                    text, finish_reason = state.apply(event, self.config.base_url)
                    if text or finish_reason is not None:
                        yield self._output(state, text, finish_reason)
            if state.finish_reason is None:
                raise RequestError(f"the remote server {self.config.base_url} ended the stream unfinished")
        finally:
            self._stats["running"] -= 1
            if state.finish_reason is not None:
                self._stats["prompt"] += state.num_prompt_tokens
                self._stats["cached"] += state.cached_tokens
                self._stats["completion"] += state.completion_tokens

    def generate(self, prompts: list[Any], params: SamplingParams | None = None) -> list[RequestOutput]:
        finals = []
        for prompt in prompts:
            final = None
            for final in self.stream(prompt, params):  # noqa: B007 - the last one is the result
                pass
            finals.append(final)
        return finals

    def stats(self) -> EngineStats:
        computed = self._stats["prompt"] - self._stats["cached"] + self._stats["completion"]
        return EngineStats(num_pages=0, free_pages=0, cached_free_pages=0, tokens_computed=computed,
                           prefix_cache_hit_tokens=self._stats["cached"], segment_hits=0, segment_misses=0,
                           live_segments=0, num_preemptions=0, running=self._stats["running"], waiting=0)

    def encode_segment(self, token_ids: list[int]) -> Any:
        raise ConfigError("the remote backend reuses context through the server's prefix cache only: "
                          "use reuse mode 'prefix'")

    def release_segment(self, handle: Any) -> None:
        pass

    # -- wire -------------------------------------------------------------------------------------

    def _prompt_ids(self, prompt: Any) -> list[int]:
        """Token lists concatenated in the given order (the order is what the prefix cache keys on)."""
        if isinstance(prompt, str):
            return self.encode_prompt(prompt)
        if prompt and all(isinstance(t, int) for t in prompt):
            return list(prompt)
        ids: list[int] = []
        for part in prompt:
            if not isinstance(part, list):
                raise ConfigError("the remote backend takes token lists only, not encoded segments: "
                                  "use reuse mode 'prefix'")
            ids.extend(part)
        if not ids:
            raise RequestError("empty prompt")
        return ids

    def _body(self, ids: list[int], params: SamplingParams) -> dict[str, Any]:
        prompt: str | list[int] = ids
        if self.config.prompt_as == "text":
            bos = self.tokenizer.bos_token_id
            if self.tokenizer.add_bos and ids and ids[0] == bos:
                ids = ids[1:]  # the server adds BOS when it tokenizes text
            prompt = self.tokenizer.decode(ids)
        body: dict[str, Any] = {
            "model": self.config.model, "prompt": prompt, "max_tokens": params.max_tokens,
            "temperature": params.temperature, "top_p": params.top_p, "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop_token_ids is not None:  # vLLM / SGLang / codepager extensions: sent only when used
            body["stop_token_ids"] = list(params.stop_token_ids)
        if params.ignore_eos:
            body["ignore_eos"] = True
        return body

    def _post_stream(self, body: dict[str, Any]) -> Any:
        return _open_stream(self.client, f"{self.config.base_url}/completions", body, self.config.base_url)

    def _get_json(self, path: str) -> dict[str, Any]:
        url = f"{self.config.base_url}{path}"
        try:
            response = self.client.get(url)
        except httpx.HTTPError as err:
            raise RequestError(f"cannot reach the remote completion server at {url}: {err}") from err
        if response.status_code >= 400:
            raise RequestError(_error_line(self.config.base_url, response.status_code, response.content))
        try:
            return response.json()
        except ValueError as err:
            raise RequestError(f"{url} did not answer JSON") from err

    def _output(self, state: _StreamState, text: str, finish_reason: str | None) -> RequestOutput:
        # The API returns text, not ids: ids are the local tokenizer's reading of that text.
        new_ids = self.tokenizer.encode(text) if text else []
        state.text += text
        state.token_ids.extend(new_ids)
        finished = finish_reason is not None
        return RequestOutput(
            request_id=state.request_id, new_token_ids=new_ids, new_text=text,
            token_ids=list(state.token_ids), text=state.text, finished=finished, finish_reason=finish_reason,
            num_prompt_tokens=state.num_prompt_tokens,
            prompt_tokens_computed=state.num_prompt_tokens - state.cached_tokens,
            prompt_tokens_cached=state.cached_tokens,
        )


@dataclass(slots=True)
class _StreamState:
    request_id: str
    num_prompt_tokens: int
    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    finish_reason: str | None = None  # set at the end of the stream, after the usage event
    cached_tokens: int = 0
    completion_tokens: int = 0
    pending_finish: str | None = None

    def apply(self, event: dict[str, Any], base_url: str) -> tuple[str, str | None]:
        """One server event -> (text delta, finish reason) to report."""
        if "error" in event:
            error = event["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise RequestError(f"the remote server {base_url} failed: {message}")
        if event.get("done"):
            self.finish_reason = self.pending_finish
            return "", self.finish_reason
        self.request_id = self.request_id or str(event.get("id", ""))
        usage = event.get("usage")
        if isinstance(usage, dict):
            self.num_prompt_tokens = usage.get("prompt_tokens") or self.num_prompt_tokens
            self.completion_tokens = usage.get("completion_tokens") or 0
            details = usage.get("prompt_tokens_details")
            if isinstance(details, dict):
                self.cached_tokens = details.get("cached_tokens") or 0
        choices = event.get("choices") or []
        if not choices:
            return "", None
        self.pending_finish = choices[0].get("finish_reason") or self.pending_finish
        return choices[0].get("text") or "", None


@contextlib.contextmanager
def _open_stream(client: httpx.Client, url: str, body: dict[str, Any],
                 base_url: str) -> Iterator[httpx.Response]:
    """POST with a streamed answer; a 4xx/5xx or a network failure becomes one RequestError line."""
    try:
        with client.stream("POST", url, json=body) as response:
            if response.status_code >= 400:
                raise RequestError(_error_line(base_url, response.status_code, response.read()))
            yield response
    except httpx.HTTPError as err:
        raise RequestError(f"the remote completion server at {url} failed: {err}") from err


def _sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """`data:` payloads as dicts; the `[DONE]` sentinel becomes {"done": True}."""
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            yield {"done": True}
            return
        try:
            event = json.loads(payload)
        except json.JSONDecodeError as err:
            raise RequestError(f"the remote server sent a malformed event: {payload[:80]!r}") from err
        if isinstance(event, dict):
            yield event


def _error_line(base_url: str, status: int, content: bytes) -> str:
    message = content.decode("utf-8", "replace")[:200]
    try:
        error = json.loads(content).get("error")
        message = error.get("message", message) if isinstance(error, dict) else (error or message)
    except (ValueError, AttributeError):
        pass
    return f"the remote server {base_url} answered {status}: {message}"
