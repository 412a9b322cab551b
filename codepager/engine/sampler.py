"""Next-token choice from logits: greedy, or temperature + top-p with a per-request generator."""

from __future__ import annotations

import torch

from codepager.engine.config import SamplingParams


def sample(
    logits: torch.Tensor, greedy: list[int], params: list[SamplingParams],
    generators: list[torch.Generator | None],
) -> list[int]:
    """logits [N, vocab] float32 -> one token id per row; greedy [N] is each row's argmax (read
    from the device by the caller), the choice of greedy rows."""
    tokens = list(greedy)
    for row, (p, generator) in enumerate(zip(params, generators, strict=True)):
        if not p.greedy:
            tokens[row] = _sample_row(logits[row], p.temperature, p.top_p, generator)
    return tokens


def _sample_row(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None,
) -> int:
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # (vocab,)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of strictly more likely tokens
        sorted_probs[before >= top_p] = 0.0  # the most likely token always stays
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    if generator is not None and generator.device != probs.device:
        probs = probs.to(generator.device)
    return int(torch.multinomial(probs, 1, generator=generator).item())


def make_generator(seed: int | None, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator
