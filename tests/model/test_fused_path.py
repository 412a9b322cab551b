"""The model's CUDA step sequence (fused Triton elementwise kernels on views of the fused q/k/v and
gate/up outputs; decode steps also with the norms and SwiGLU inside Triton projections) run on the
CPU through the Triton interpreter: logits equal transformers' (fp32).
The same path runs for real in test_fused_gpu.py."""

from __future__ import annotations

import pytest
import torch

from codepager.kernels.decode_linear import decode_linear
from codepager.kernels.triton_import import HAS_TRITON
from codepager.model import decoder, load_model

from .test_fused_gpu import _chunked_logits
from .test_parity import TEXT, hf_logits, relative_error

pytestmark = pytest.mark.skipif(torch.cuda.is_available() or not HAS_TRITON,
                                reason="interpreter run; on a GPU test_fused_gpu.py covers it")


@pytest.mark.parametrize("decode_kernels", ["cublas", "triton"])
@pytest.mark.parametrize("variant", ["qwen2-rope-yarn", "qwen3", "llama-rope-linear-bias"])
def test_fused_kernel_path_matches_transformers(variant, decode_kernels, tiny_model_dir, monkeypatch):
    import transformers

    path = tiny_model_dir(variant)
    hf = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    loaded = load_model(path)
    loaded.model.decode_kernels = decode_kernels  # "triton": decode steps through decode_linear
    ids = loaded.tokenizer.encode(TEXT)[:22]
    launched = []

    def fused_on_every_device(x: torch.Tensor) -> bool:
        launched.append(x.shape)
        return True

    projections = []

    def counted_decode_linear(**kwargs):
        projections.append(kwargs["weight"].shape)
        return decode_linear(**kwargs)

    monkeypatch.setattr(decoder, "fused_kernels_for", fused_on_every_device)
    monkeypatch.setattr(decoder, "decode_linear", counted_decode_linear)
    logits = _chunked_logits(loaded.model, ids)
    assert launched  # the kernels did run
    # 4 one-token decode steps x layers x 4 projections when the decode steps take the Triton ones
    expected = 4 * loaded.config.num_layers * 4 if decode_kernels == "triton" else 0
    assert len(projections) == expected
    assert relative_error(logits, hf_logits(hf, ids)) <= 1e-4
