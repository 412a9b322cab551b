"""Per-request state the engine keeps beside the sequence, and the outputs made from it."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from codepager.engine.detokenizer import Detokenizer
from codepager.engine.outputs import RequestOutput
from codepager.engine.sequence import Sequence


@dataclass(slots=True)
class TrackedRequest:
    """What the engine keeps per live request beside its sequence."""

    seq: Sequence
    detokenizer: Detokenizer
    generator: torch.Generator | None
    reported_tokens: int = 0
    detokenized: int = 0  # completion tokens given to the detokenizer
    prompt_logits: dict[int, torch.Tensor] = field(default_factory=dict)  # position -> logits


def request_output(request: TrackedRequest, *, finished: bool) -> RequestOutput:
    """The request's news since its last output (all of it, with prompt logits, when finished)."""
    seq = request.seq
    completion = seq.completion_token_ids
    new_token_ids = completion[request.reported_tokens:]
    request.reported_tokens = len(completion)
    prompt_logits, positions = None, []
    if finished and request.prompt_logits:
        positions = sorted(request.prompt_logits)
        prompt_logits = torch.stack([request.prompt_logits[p] for p in positions])
    return RequestOutput(
        request_id=seq.request_id, new_token_ids=new_token_ids,
        new_text=request.detokenizer.delta(final=finished), token_ids=list(completion),
        text=request.detokenizer.text[:request.detokenizer.emitted],
        finished=finished, finish_reason=seq.finish_reason if finished else None,
        num_prompt_tokens=seq.num_prompt_tokens, prompt_tokens_computed=seq.prompt_tokens_computed,
        prompt_tokens_cached=seq.prompt_tokens_cached, prompt_logits=prompt_logits,
        prompt_logit_positions=positions,
    )


def progress_output(request: TrackedRequest) -> RequestOutput:
    """An output that reports no news (the request is still computing or waiting)."""
    seq, detokenizer = request.seq, request.detokenizer
    return RequestOutput(
        request_id=seq.request_id, new_token_ids=[], new_text="", token_ids=seq.completion_token_ids,
        text=detokenizer.text[:detokenizer.emitted], finished=False, finish_reason=None,
        num_prompt_tokens=seq.num_prompt_tokens, prompt_tokens_computed=seq.prompt_tokens_computed,
        prompt_tokens_cached=seq.prompt_tokens_cached,
    )


def detokenize_new(request: TrackedRequest, stop_ids: list[int]) -> bool:
    """Give the detokenizer the request's completion tokens it has not seen (not a final stop
    token, which is no text); True when a stop string has matched."""
    seq = request.seq
    new_ids = seq.completion_token_ids[request.detokenized:]
    if not new_ids:
        return False
    request.detokenized += len(new_ids)
    if seq.finish_reason == "stop" and new_ids[-1] in stop_ids:
        new_ids = new_ids[:-1]
    return request.detokenizer.add(new_ids)
