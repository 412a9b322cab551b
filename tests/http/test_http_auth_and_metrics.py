"""API key (Bearer, constant-time compare, required off loopback), /health and /metrics."""

from __future__ import annotations

import httpx
import openai
import pytest

from codepager.errors import ConfigError
from codepager.http.config import HttpConfig, is_loopback

GOOD = {"model": "tiny", "prompt": "def f(x):", "max_tokens": 3, "temperature": 0}


def test_key_is_required_when_configured(start_server) -> None:
    server = start_server(api_key="s3cret")
    url = f"{server.url}/v1/completions"
    missing = httpx.post(url, json=GOOD)
    assert missing.status_code == 401 and "missing API key" in missing.json()["error"]["message"]
    wrong = httpx.post(url, json=GOOD, headers={"Authorization": "Bearer s3cre"})
    assert wrong.status_code == 401 and "invalid API key" in wrong.json()["error"]["message"]
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    assert httpx.get(f"{server.url}/health").status_code == 200  # for load balancers
    ok = openai.OpenAI(base_url=f"{server.url}/v1", api_key="s3cret", max_retries=0)
    assert ok.completions.create(**GOOD).choices[0].finish_reason in ("stop", "length")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="nope", max_retries=0).models.list()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.7", "::", "example.com"])
def test_non_loopback_bind_needs_a_key(host) -> None:
    with pytest.raises(ConfigError, match="API key"):
        HttpConfig(host=host)
    assert HttpConfig(host=host, api_key="k").api_key == "k"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "::1", "localhost"])
def test_loopback_needs_no_key(host) -> None:
    assert is_loopback(host)
    assert HttpConfig(host=host).api_key is None


def test_config_rejects_unknown_and_invalid_settings() -> None:
    with pytest.raises(ConfigError, match="unknown HttpConfig setting"):
        HttpConfig.from_dict({"hots": "127.0.0.1"})
    with pytest.raises(ConfigError, match="max_tokens_limit"):
        HttpConfig(max_tokens_limit=0)
    with pytest.raises(ConfigError, match="port"):
        HttpConfig(port=70000)


def parse_prometheus(text: str) -> dict[str, float]:
    """sample line -> value; every non-comment line must be `name{labels} value`."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    return samples


def test_metrics_count_requests_latency_and_cache_hits(server) -> None:
    prompt = server.engine.encode_prompt("def read_config(path):\n    return path\n" * 3)
    for _ in range(2):
        httpx.post(f"{server.url}/v1/completions", json={**GOOD, "prompt": prompt})
    httpx.post(f"{server.url}/v1/completions", content=b"not json")
    text = httpx.get(f"{server.url}/metrics")
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse_prometheus(text.text)
    ok = 'codepager_http_requests_total{method="POST",route="/v1/completions",status="200"}'
    bad = 'codepager_http_requests_total{method="POST",route="/v1/completions",status="400"}'
    assert samples[ok] == 2 and samples[bad] == 1
    assert samples['codepager_http_request_duration_seconds_count{route="/v1/completions"}'] == 3
    assert samples['codepager_http_request_duration_seconds_bucket{route="/v1/completions",le="+Inf"}'] == 3
    assert samples["codepager_time_to_first_token_seconds_count"] == 2
    assert samples["codepager_prompt_tokens_total"] == 2 * len(prompt)
    cached = samples["codepager_prompt_tokens_cached_total"]
    assert cached >= 16  # the second request reused the first one's full pages
    assert samples["codepager_prefix_cache_hit_rate"] == pytest.approx(cached / (2 * len(prompt)), abs=1e-6)
    assert samples["codepager_kv_pages"] == 256
    assert samples["codepager_requests_running"] == 0


def test_unknown_paths_share_one_metrics_label(server) -> None:
    for path in ("/a", "/b", "/c"):
        httpx.get(f"{server.url}{path}")
    samples = parse_prometheus(httpx.get(f"{server.url}/metrics").text)
    assert samples['codepager_http_requests_total{method="GET",route="other",status="404"}'] == 3
