"""The model on CUDA with the fused kernels (q/k/v and gate/up GEMMs, residual add + RMSNorm, RoPE,
SwiGLU) against the same weights through the unfused plain-torch steps and against transformers in
float32: chunked prefill then decode, in float32 and bfloat16, and a decode step in a CUDA graph."""

from __future__ import annotations

import pytest
import torch

from codepager.model import decoder, load_model
from codepager.model.decoder import DECODE_KERNELS

from .paged_inputs import PagedBatch, run_paged
from .test_parity import TEXT, hf_logits, relative_error

pytestmark = pytest.mark.gpu
VARIANTS = ["qwen2", "qwen3", "qwen2-rope-yarn", "llama-rope-linear-bias", "qwen3-tied"]


def _chunked_logits(model, ids: list[int]) -> torch.Tensor:
    """Logits of ids computed as a 13-token prefill, a 5-token extend, then one token at a time."""
    batch = PagedBatch(num_seqs=1, max_pages=4)
    kv = model.allocate_kv_caches(4)
    pieces = [ids[:13], ids[13:18]] + [[token] for token in ids[18:]]
    return torch.cat([run_paged(model, batch, kv, [piece])[0] for piece in pieces])


def _unfused_steps(monkeypatch) -> None:
    monkeypatch.setattr(decoder, "fused_kernels_for", lambda x: False)


@pytest.fixture(scope="module", params=VARIANTS)
def checkpoint(request, tiny_model_dir):
    import transformers

    path = tiny_model_dir(request.param)
    hf = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    ids = load_model(path).tokenizer.encode(TEXT)[:30]
    return path, ids, hf_logits(hf, ids)


@pytest.mark.parametrize("decode_kernels", DECODE_KERNELS)
def test_float32_fused_model_matches_transformers(checkpoint, decode_kernels):
    path, ids, expected = checkpoint
    loaded = load_model(path, device="cuda", dtype=torch.float32)
    loaded.model.decode_kernels = decode_kernels
    assert relative_error(_chunked_logits(loaded.model, ids), expected) < 1e-3


def test_bfloat16_fused_model_is_as_close_to_float32_as_the_unfused_one(checkpoint, monkeypatch):
    path, ids, expected = checkpoint
    model = load_model(path, device="cuda", dtype=torch.bfloat16).model
    fused = _chunked_logits(model, ids)
    _unfused_steps(monkeypatch)
    unfused = _chunked_logits(model, ids)
    assert torch.isfinite(fused).all()
    fused_error, unfused_error = relative_error(fused, expected), relative_error(unfused, expected)
    # bf16 alone costs ~2 % here (either path); a wrong step (rope half, bias, scale) costs far more
    assert fused_error <= max(1.5 * unfused_error, 2e-2), (fused_error, unfused_error)
    assert relative_error(fused, unfused) < 5e-2
    assert (fused.argmax(-1) == expected.argmax(-1)).float().mean() > 0.8


@pytest.mark.parametrize("decode_kernels", DECODE_KERNELS)
def test_bfloat16_decode_step_replays_in_a_cuda_graph(tiny_model_dir, decode_kernels):
    model = load_model(tiny_model_dir("qwen3"), device="cuda", dtype=torch.bfloat16).model
    model.decode_kernels = decode_kernels
    ids = list(range(3, 24))
    batch = PagedBatch(num_seqs=2, max_pages=4)
    kv = model.allocate_kv_caches(8)
    run_paged(model, batch, kv, [ids[:20], ids[:11]])
    input_ids, positions, meta = batch.step([[ids[20]], [ids[11]]])
    inputs = [t.cuda() for t in (input_ids, positions)]
    for name in ("slot_mapping", "block_tables", "page_starts", "page_lens", "cu_seqlens_q", "q_positions"):
        setattr(meta, name, getattr(meta, name).cuda())
    snapshot = [(k.clone(), v.clone()) for k, v in kv]
    with torch.inference_mode():
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            model(*inputs, meta, kv)  # compile and load the kernels outside capture
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            captured = model(*inputs, meta, kv)  # (2, hidden)
        inputs[0].copy_(torch.tensor([ids[5], ids[7]]))  # new data in the captured input buffer
        for (k, v), (k0, v0) in zip(kv, snapshot, strict=True):
            k.copy_(k0)
            v.copy_(v0)
        graph.replay()
        replayed = captured.clone()
        for (k, v), (k0, v0) in zip(kv, snapshot, strict=True):
            k.copy_(k0)
            v.copy_(v0)
        eager = model(*inputs, meta, kv)
    assert relative_error(replayed, eager) < 1e-3
