"""Triton greedy argmax vs torch.argmax (interpreter on CPU; the real kernel on a GPU)."""

from __future__ import annotations

import pytest
import torch
from paged_cases import DEVICE

from codepager.kernels import argmax
from codepager.kernels.argmax import greedy_argmax, greedy_argmax_ref


@pytest.mark.parametrize("vocab", [1, 37, 1000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_greedy_argmax_matches_torch(monkeypatch, vocab, dtype):
    monkeypatch.setattr(argmax, "BLOCK", 64)  # several blocks per row, the last one partial
    logits = torch.randn(4, vocab, generator=torch.Generator().manual_seed(vocab)).to(dtype).to(DEVICE)
    assert torch.equal(greedy_argmax(logits=logits), greedy_argmax_ref(logits=logits))


def test_ties_go_to_the_first_index_across_blocks(monkeypatch):
    monkeypatch.setattr(argmax, "BLOCK", 16)
    logits = torch.full((3, 100), -5.0)
    logits[0, [70, 20, 90]] = 3.0  # in three blocks
    logits[1, [33, 34]] = -1.0  # in one block
    logits[2] = float("-inf")
    logits[2, 99] = -1e30
    out = greedy_argmax(logits=logits.to(DEVICE))
    assert out.tolist() == [20, 33, 99] == greedy_argmax_ref(logits=logits).tolist()


def test_writes_into_a_strided_view_and_reads_a_strided_row(monkeypatch):
    monkeypatch.setattr(argmax, "BLOCK", 32)
    wide = torch.randn(2, 300, generator=torch.Generator().manual_seed(1)).to(DEVICE)
    buffer = torch.full((3, 2), -1, dtype=torch.int64, device=DEVICE)
    greedy_argmax(logits=wide[:, :250], out=buffer[:, 1][:2])
    assert buffer[:2, 1].tolist() == wide[:, :250].argmax(dim=-1).tolist()
    assert (buffer[:, 0] == -1).all() and buffer[2, 1] == -1


def test_bad_inputs_are_refused():
    with pytest.raises(AssertionError, match="contiguous columns"):
        greedy_argmax(logits=torch.randn(4, 3).t())
    with pytest.raises(AssertionError, match="int64"):
        greedy_argmax(logits=torch.randn(2, 8), out=torch.empty(2, dtype=torch.int32))
