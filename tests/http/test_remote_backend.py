"""The Assistant's remote backend against a second codepager HTTP server: same greedy completions as
the local engine, prefix-cache reuse on the server, cancellation by closing the stream, clear errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from codepager.assistant import Assistant
from codepager.assistant_config import AssistantConfig
from codepager.context.config import ContextConfig
from codepager.engine.config import EngineConfig, SamplingParams
from codepager.engine.llm_engine import LLMEngine
from codepager.errors import ConfigError, RequestError
from codepager.indexer.config import IndexConfig
from codepager.remote_backend import RemoteBackend, RemoteBackendConfig

CHECKOUT = "shop/checkout.py"
PROMPT = "def read_config(path):\n    with open(path) as handle:\n        "


def open_backend(server, tiny_model_dir, **settings) -> RemoteBackend:
    return RemoteBackend.open(RemoteBackendConfig(base_url=f"{server.url}/v1", model="tiny", **settings),
                              tiny_model_dir)


def local_engine(tiny_loaded) -> LLMEngine:
    return LLMEngine(tiny_loaded, EngineConfig(num_pages=256))


@pytest.mark.parametrize("prompt_as", ["tokens", "text"])
def test_same_greedy_completion_as_the_local_engine(server, tiny_model_dir, tiny_loaded, prompt_as) -> None:
    backend = open_backend(server, tiny_model_dir, prompt_as=prompt_as)
    params = SamplingParams(max_tokens=16, ignore_eos=True)
    prompt = local_engine(tiny_loaded).encode_prompt(PROMPT)
    [expected] = local_engine(tiny_loaded).generate([prompt], params)
    deltas = list(backend.stream([prompt[:7], prompt[7:]], params))  # parts arrive in order
    assert len(deltas) > 1 and deltas[-1].finished
    assert "".join(d.new_text for d in deltas) == deltas[-1].text == expected.text
    assert deltas[-1].finish_reason == "length" and deltas[-1].num_prompt_tokens == len(prompt)
    assert backend.max_model_len == server.engine.max_model_len
    backend.close()


def test_stop_strings_reach_the_server(server, tiny_model_dir, tiny_loaded) -> None:
    backend = open_backend(server, tiny_model_dir)
    params = SamplingParams(max_tokens=20, ignore_eos=True)
    full = local_engine(tiny_loaded).generate([PROMPT], params)[0].text
    stop = full[6:8]
    [result] = backend.generate([PROMPT], SamplingParams(max_tokens=20, ignore_eos=True, stop=[stop]))
    assert result.text == full[:full.index(stop)] and result.finish_reason == "stop"


def test_repeated_prompt_is_served_from_the_remote_prefix_cache(server, tiny_model_dir) -> None:
    backend = open_backend(server, tiny_model_dir)
    prompt = PROMPT * 4
    first = backend.generate([prompt], SamplingParams(max_tokens=2))[0]
    second = backend.generate([prompt], SamplingParams(max_tokens=2))[0]
    assert first.prompt_tokens_cached == 0 and second.prompt_tokens_cached >= 16
    assert backend.stats().prefix_cache_hit_tokens == second.prompt_tokens_cached


def test_closing_the_stream_cancels_on_the_server(start_server, tiny_model_dir) -> None:
    server = start_server(max_tokens_limit=1900)
    backend = open_backend(server, tiny_model_dir)
    before = server.loop.stats().tokens_computed
    stream = backend.stream(PROMPT, SamplingParams(max_tokens=1900, ignore_eos=True))
    assert next(stream).new_text
    stream.close()
    end = time.monotonic() + 30
    while server.loop.stats().running and time.monotonic() < end:
        time.sleep(0.01)
    assert server.loop.stats().running == 0
    assert server.loop.stats().tokens_computed - before < 1900
    assert backend.stats().running == 0


def test_errors_are_one_line(start_server, tiny_model_dir, monkeypatch) -> None:
    server = start_server(api_key="k1")
    monkeypatch.setenv("CODEPAGER_REMOTE_API_KEY", "wrong")
    with pytest.raises(RequestError, match="answered 401: invalid API key"):
        open_backend(server, tiny_model_dir)
    monkeypatch.setenv("CODEPAGER_REMOTE_API_KEY", "k1")
    with pytest.raises(ConfigError, match="does not serve model 'other'; it serves: tiny"):
        RemoteBackend.open(RemoteBackendConfig(base_url=f"{server.url}/v1", model="other"), tiny_model_dir)
    backend = open_backend(server, tiny_model_dir)
    with pytest.raises(RequestError, match="answered 400: .*limit"):
        backend.generate([PROMPT], SamplingParams(max_tokens=5000))
    with pytest.raises(ConfigError, match="reuse mode 'prefix'"):
        backend.encode_segment([1, 2, 3])
    unreachable = RemoteBackendConfig(base_url="http://127.0.0.1:9/v1", model="tiny", max_model_len=128)
    with pytest.raises(RequestError, match="127.0.0.1:9"):
        RemoteBackend.open(unreachable, tiny_model_dir).generate([PROMPT], SamplingParams(max_tokens=2))


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="http"):
        RemoteBackendConfig(base_url="gpu-box:8000", model="m")
    with pytest.raises(ConfigError, match="prompt_as"):
        RemoteBackendConfig(base_url="http://x/v1", model="m", prompt_as="bytes")
    with pytest.raises(ConfigError, match="unknown remote backend setting"):
        RemoteBackendConfig.from_dict({"base_url": "http://x/v1", "model": "m", "modle": "n"})


def assistant_config(repo: Path, model_dir: Path) -> AssistantConfig:
    context = ContextConfig(repo_budget_tokens=600, max_item_tokens=400, prefix_tokens=200, suffix_tokens=60)
    return AssistantConfig(model_dir=model_dir, max_tokens=6, context=context, persist_kv=False,
                           index=IndexConfig(cache_dir=repo.parent / "cache"),
                           engine=EngineConfig(num_pages=256))


def test_assistant_through_the_remote_backend_completes_like_the_local_engine(
        server, tiny_model_dir, tiny_loaded, repo) -> None:
    text = (repo / CHECKOUT).read_text()
    offset = text.index("total = cart.total_price(") + len("total = cart.total_price(")
    line, col = text.count("\n", 0, offset), offset - (text.rfind("\n", 0, offset) + 1)
    config = assistant_config(repo, tiny_model_dir)
    with Assistant.open(repo, config, engine=local_engine(tiny_loaded)) as local:
        expected = local.complete(CHECKOUT, text, line, col)
    backend = open_backend(server, tiny_model_dir)
    with Assistant.open(repo, config, engine=backend) as remote:
        first = remote.complete(CHECKOUT, text, line, col)
        again = remote.complete(CHECKOUT, text, line, col)
    assert first.raw and first.raw == expected.raw and first.completion == expected.completion
    assert first.prompt_tokens == expected.prompt_tokens > 100  # repository context went over the wire
    assert again.cached_tokens >= again.prompt_tokens - 16  # the stable prompt hit the server's prefix cache


def test_remote_backend_chosen_by_configuration(server, tiny_model_dir, tiny_loaded, repo) -> None:
    text = (repo / CHECKOUT).read_text()
    offset = text.index("total = cart.total_price(") + len("total = cart.total_price(")
    line, col = text.count("\n", 0, offset), offset - (text.rfind("\n", 0, offset) + 1)
    local_config = assistant_config(repo, tiny_model_dir)
    with Assistant.open(repo, local_config, engine=local_engine(tiny_loaded)) as local:
        expected = local.complete(CHECKOUT, text, line, col)
    config = AssistantConfig.from_dict({
        "model_dir": tiny_model_dir, "max_tokens": 6, "context": local_config.context,
        "index": IndexConfig(cache_dir=repo.parent / "cache"),
        "remote": {"base_url": f"{server.url}/v1", "model": "tiny"},
    })
    with Assistant.open(repo, config) as remote:
        assert isinstance(remote.engine, RemoteBackend)
        got = remote.complete(CHECKOUT, text, line, col)
    assert got.raw == expected.raw and got.prompt_tokens == expected.prompt_tokens


def test_remote_backend_rejects_segment_reuse_in_configuration(server, tiny_model_dir) -> None:
    with pytest.raises(ConfigError, match="remote backend supports only"):
        AssistantConfig.from_dict({"reuse": "segments",
                                   "remote": {"base_url": f"{server.url}/v1", "model": "tiny"}})
