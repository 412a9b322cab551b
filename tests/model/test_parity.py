"""Logits parity with transformers (fp32) through the paged attention path."""

from __future__ import annotations

import pytest
import torch

from codepager.model import load_model

from .conftest import VARIANTS
from .paged_inputs import PagedBatch, run_paged

TOLERANCE = 1e-4
TEXT = 'def read_config(path: str) -> dict:\n    """Read it."""\n    return json.load(open(path))\n' * 3


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours - ref).abs().max() / ref.abs().max()).item()


@pytest.fixture(scope="module", params=list(VARIANTS))
def pair(request, tiny_model_dir):
    """(our LoadedModel, transformers model) of one variant."""
    import transformers

    path = tiny_model_dir(request.param)
    hf = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return load_model(path), hf


def hf_logits(hf, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return hf(torch.tensor([ids])).logits[0]


def test_single_prompt(pair):
    ours, hf = pair
    ids = ours.tokenizer.encode(TEXT)[:40]
    batch = PagedBatch(num_seqs=1, max_pages=4)
    (logits,) = run_paged(ours.model, batch, ours.model.allocate_kv_caches(4), [ids])
    assert logits.dtype == torch.float32
    assert relative_error(logits, hf_logits(hf, ids)) <= TOLERANCE


def test_ragged_batch_packed_together(pair):
    ours, hf = pair
    tokens = ours.tokenizer.encode(TEXT)
    prompts = [tokens[:5], tokens[3:40], tokens[10:26], tokens[7:8]]
    batch = PagedBatch(num_seqs=len(prompts), max_pages=4)
    results = run_paged(ours.model, batch, ours.model.allocate_kv_caches(12), prompts)
    for ids, logits in zip(prompts, results, strict=True):
        assert relative_error(logits, hf_logits(hf, ids)) <= TOLERANCE


def test_chunked_prefill_then_decode_matches_full_forward(pair):
    ours, hf = pair
    tokens = ours.tokenizer.encode(TEXT)
    seqs = [tokens[:30], tokens[5:25]]
    batch = PagedBatch(num_seqs=2, max_pages=4)
    kv = ours.model.allocate_kv_caches(8)
    pieces = [[s[:13] for s in seqs], [s[13:18] for s in seqs]]
    pieces += [[[s[i]] for s in seqs] for i in range(18, 20)]
    pieces.append([s[20:] for s in seqs])
    got: list[list[torch.Tensor]] = [[], []]
    for step in pieces:
        for seq, logits in enumerate(run_paged(ours.model, batch, kv, step)):
            got[seq].append(logits)
    for seq, ids in enumerate(seqs):
        assert relative_error(torch.cat(got[seq]), hf_logits(hf, ids)) <= TOLERANCE
