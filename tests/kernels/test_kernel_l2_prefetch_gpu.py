"""L2 prefetch (CUDA only: inline PTX): it changes nothing, eagerly and inside a CUDA graph."""

from __future__ import annotations

import pytest
import torch

from codepager.kernels.l2_prefetch import POLICIES, prefetch_l2

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (inline PTX)")]


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("nbytes", [0, 100, 128, 5000, 1 << 30])  # nothing, < 1 line, 1 line, clipped
def test_prefetch_changes_nothing(policy, nbytes):
    t = torch.randn(3000, 77, device="cuda", dtype=torch.bfloat16)
    before = t.clone()
    prefetch_l2(t=t, nbytes=nbytes, policy=policy)
    torch.cuda.synchronize()
    assert torch.equal(t, before)


def test_prefetch_is_graph_capturable():
    t = torch.randn(1 << 20, device="cuda")
    out = torch.empty_like(t)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        prefetch_l2(t=t, nbytes=1 << 22)
        out.copy_(t * 2)
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(out, t * 2)


def test_prefetch_rejects_cpu_tensors_and_unknown_policies():
    with pytest.raises(AssertionError, match="contiguous CUDA tensor"):
        prefetch_l2(t=torch.zeros(4), nbytes=128)
    with pytest.raises(AssertionError, match="policy"):
        prefetch_l2(t=torch.zeros(64, device="cuda"), nbytes=128, policy="sometimes")
