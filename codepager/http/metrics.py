"""Request counts, latency histograms and prefix-cache hit rate, rendered in the Prometheus text
exposition format (version 0.0.4) for `GET /metrics`."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from codepager.engine.outputs import EngineStats, RequestOutput

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(slots=True)
class Histogram:
    buckets: Sequence[float] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)  # per bucket, not cumulative
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        self.total += value
        self.count += 1
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
                break

    def lines(self, name: str, labels: str = "") -> list[str]:
        out, cumulative = [], 0
        sep = "," if labels else ""
        for bound, n in zip(self.buckets, self.counts, strict=True):
            cumulative += n
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {cumulative}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        braces = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{braces} {self.total:.6f}")
        out.append(f"{name}_count{braces} {self.count}")
        return out


class HttpMetrics:
    """Updated from the server's request handlers; render() reads a consistent snapshot."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)  # (method, route, status)
        self.latency: dict[str, Histogram] = {}
        self.first_token = Histogram()
        self.completions: dict[str, int] = defaultdict(int)  # finish reason -> count
        self.prompt_tokens = 0
        self.cached_prompt_tokens = 0
        self.completion_tokens = 0

    def record_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            self.latency.setdefault(route, Histogram()).observe(seconds)

    def record_first_token(self, seconds: float) -> None:
        with self._lock:
            self.first_token.observe(seconds)

    def record_completion(self, final: RequestOutput) -> None:
        with self._lock:
            self.completions[final.finish_reason or "unknown"] += 1
            self.prompt_tokens += final.num_prompt_tokens
            self.cached_prompt_tokens += final.prompt_tokens_cached
            self.completion_tokens += len(final.token_ids)

    def record_cancelled(self) -> None:
        with self._lock:
            self.completions["cancelled"] += 1

    def render(self, engine: EngineStats | None = None) -> str:
        with self._lock:
            lines = [
                "# HELP codepager_http_requests_total HTTP requests by method, route and status.",
                "# TYPE codepager_http_requests_total counter",
            ]
            for (method, route, status), n in sorted(self.requests.items()):
                lines.append(f'codepager_http_requests_total{{method="{method}",route="{route}",'
                             f'status="{status}"}} {n}')
            lines += ["# HELP codepager_http_request_duration_seconds Request to last byte sent.",
                      "# TYPE codepager_http_request_duration_seconds histogram"]
            for route, histogram in sorted(self.latency.items()):
                lines += histogram.lines("codepager_http_request_duration_seconds", f'route="{route}"')
            lines += ["# HELP codepager_time_to_first_token_seconds Time from request to the first token.",
                      "# TYPE codepager_time_to_first_token_seconds histogram",
                      *self.first_token.lines("codepager_time_to_first_token_seconds")]
            lines += ["# HELP codepager_completions_total Completions by finish reason.",
                      "# TYPE codepager_completions_total counter"]
            for reason, n in sorted(self.completions.items()):
                lines.append(f'codepager_completions_total{{finish_reason="{reason}"}} {n}')
            hit_rate = self.cached_prompt_tokens / self.prompt_tokens if self.prompt_tokens else 0.0
            lines += _counter("codepager_prompt_tokens_total", "Prompt tokens of finished requests.",
                              self.prompt_tokens)
            lines += _counter("codepager_prompt_tokens_cached_total",
                              "Prompt tokens whose KV came from the prefix cache.", self.cached_prompt_tokens)
            lines += _counter("codepager_completion_tokens_total", "Generated tokens.",
                              self.completion_tokens)
            lines += _gauge("codepager_prefix_cache_hit_rate",
                            "Cached share of all prompt tokens served so far.", f"{hit_rate:.6f}")
        if engine is not None:
            lines += _gauge("codepager_kv_pages", "KV pages in the pool.", engine.num_pages)
            lines += _gauge("codepager_kv_pages_free", "KV pages not held by a request.", engine.free_pages)
            lines += _gauge("codepager_requests_running", "Requests being computed.", engine.running)
            lines += _gauge("codepager_requests_waiting", "Requests queued.", engine.waiting)
            lines += _counter("codepager_engine_tokens_computed_total", "Tokens run through the model.",
                              engine.tokens_computed)
            lines += _counter("codepager_engine_preemptions_total", "Requests preempted for KV space.",
                              engine.num_preemptions)
        return "\n".join(lines) + "\n"


def _counter(name: str, help_text: str, value: object) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name} {value}"]


def _gauge(name: str, help_text: str, value: object) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]
