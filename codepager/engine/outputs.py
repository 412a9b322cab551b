"""What the engine hands back: per-request deltas and the engine's counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RequestOutput:
    """One step's news for one request. new_* are this step's deltas; token_ids / text are the
    whole completion so far. prompt_logits ([n, vocab] float32 of the prompt positions this
    request computed, in order) is set on the final output when SamplingParams.keep_prompt_logits."""

    request_id: str
    new_token_ids: list[int]
    new_text: str
    token_ids: list[int]
    text: str
    finished: bool
    finish_reason: str | None
    num_prompt_tokens: int
    prompt_tokens_computed: int
    prompt_tokens_cached: int
    prompt_logits: Any = None
    prompt_logit_positions: list[int] = field(default_factory=list)


@dataclass(slots=True)
class EngineStats:
    num_pages: int
    free_pages: int
    cached_free_pages: int
    tokens_computed: int
    prefix_cache_hit_tokens: int
    segment_hits: int
    segment_misses: int
    live_segments: int
    num_preemptions: int
    running: int
    waiting: int
    decode_bursts: int = 0  # bursts of several greedy decode steps run with one host sync
    decode_bursts_ahead: int = 0  # of those, launched before the previous burst's tokens were read
