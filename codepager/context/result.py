"""What a completion returns: the text, the context it used, token accounting and timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ContextSegmentInfo:
    path: str
    symbol: str
    tokens: int
    cached: bool
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "symbol": self.symbol, "tokens": self.tokens, "cached": self.cached,
                "source": self.source}


@dataclass(slots=True)
class CompletionResult:
    completion: str
    raw: str  # the model's text before post-processing
    token_ids: list[int]  # the model's tokens
    segments: list[ContextSegmentInfo]
    prompt_tokens: int
    computed_tokens: int  # prompt tokens this request ran through the model (segments encoded included)
    cached_tokens: int  # prompt tokens whose KV was reused (prefix cache hits and placed segments)
    timings_ms: dict[str, float]
    reuse: str
    cancelled: bool = False
    finish_reason: str | None = None
    sources: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "completion": self.completion,
            "context": {"segments": [s.to_dict() for s in self.segments], "prompt_tokens": self.prompt_tokens,
                        "computed_tokens": self.computed_tokens, "cached_tokens": self.cached_tokens,
                        "reuse": self.reuse},
            "timings_ms": self.timings_ms,
        }
