"""Pieces of benchmarks/e2e.py: model shapes, one random model shared by codepager and transformers,
synthetic prompts, device ceilings (copy bandwidth, bf16 matmul rate) and the physical floors.

Imports only codepager.engine / model / kernels (the GPU machine has no lmdb, tree-sitter, pygls).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from codepager.engine.config import EngineConfig
from codepager.engine.llm_engine import LLMEngine
from codepager.model.config import ModelConfig
from codepager.model.decoder import CausalLM
from codepager.model.loader import TIED_HEAD, LoadedModel, fuse_projections
from codepager.model.rope import rope_parameters
from codepager.model.testing import make_tiny_tokenizer_json
from codepager.model.tokenizer import Tokenizer

# Qwen2.5-Coder shapes (attention q/k/v bias, rope theta 1e6); max positions raised so that 32k of
# repository context plus the current file fit.
SHAPES = {
    "1.5b": dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                 num_attention_heads=12, num_key_value_heads=2, tie_word_embeddings=True),
    "7b": dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
               num_attention_heads=28, num_key_value_heads=4, tie_word_embeddings=False),
    "smoke": dict(vocab_size=1024, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True),
}
MAX_POSITIONS = 40960


@dataclass
class Models:
    name: str
    loaded: LoadedModel  # codepager's model (weights shared with hf, but for the fused q/k/v and gate/up)
    hf: torch.nn.Module  # transformers Qwen2ForCausalLM, sdpa attention
    config: ModelConfig

    @property
    def decode_weight_bytes(self) -> int:
        """Weight bytes one decode step must read: everything but the embedding table (one row is
        read), which is read in full as the LM head when tied."""
        model = self.loaded.model
        total = sum(p.numel() * p.element_size() for p in model.parameters())  # tied counted once
        embed = model.model.embed_tokens.weight
        return total if self.config.tie_word_embeddings else total - embed.numel() * embed.element_size()

    def kv_bytes(self, tokens: int) -> int:
        c = self.config
        element = self.loaded.model.lm_head.weight.element_size()
        return 2 * c.num_layers * c.num_kv_heads * c.head_dim * tokens * element

    def prefill_flops(self, tokens: int) -> float:
        """Matmul FLOPs of a full causal prefill of `tokens` (logits of the last token only)."""
        c = self.config
        layer_linear = c.hidden_size * (c.num_heads + 2 * c.num_kv_heads) * c.head_dim \
            + c.num_heads * c.head_dim * c.hidden_size + 3 * c.hidden_size * c.intermediate_size
        linear = 2.0 * c.num_layers * layer_linear * tokens
        # QK^T and PV over the causal half of the (tokens x tokens) score matrix
        attention = 2.0 * 2 * c.num_layers * c.num_heads * c.head_dim * tokens * tokens / 2
        return linear + attention + 2.0 * c.hidden_size * c.vocab_size


def build_models(name: str, device: str, dtype: torch.dtype) -> Models:
    """A random Qwen2 model of SHAPES[name] through transformers, and codepager's on the same tensors."""
    import transformers

    hf_config = transformers.Qwen2Config(
        **SHAPES[name], max_position_embeddings=MAX_POSITIONS, rope_theta=1e6, rms_norm_eps=1e-6,
        use_sliding_window=False, bos_token_id=None, eos_token_id=0, pad_token_id=0,
    )
    torch.manual_seed(0)
    with torch.device(device):
        hf = transformers.AutoModelForCausalLM.from_config(hf_config, dtype=dtype, attn_implementation="sdpa")
    hf.eval().requires_grad_(False)
    config = ModelConfig.from_dict(hf_config.to_dict())
    with torch.device("meta"):
        ours = CausalLM(config)
    state = fuse_projections(dict(hf.state_dict()))  # q/k/v and gate/up concatenated: copies
    if config.tie_word_embeddings:
        state[TIED_HEAD] = state["model.embed_tokens.weight"]
    ours.load_state_dict(state, strict=True, assign=True)
    if config.tie_word_embeddings:
        ours.tie_weights()
    ours.rope_inv_freq = rope_parameters(config)[0].to(device)
    ours.eval().requires_grad_(False)
    from tokenizers import Tokenizer as Backend

    tokenizer = Tokenizer(Backend.from_str(make_tiny_tokenizer_json()), tokenizer_config={},
                          generation_config={"eos_token_id": 0}, digest="bench")
    loaded = LoadedModel(path=None, config=config, model=ours, tokenizer=tokenizer,
                         fingerprint=f"bench-{name}")
    return Models(name=name, loaded=loaded, hf=hf, config=config)


def make_engine(
    models: Models, *, device: str, kv_cache_bytes: int, max_len: int, decode_burst: int | None = None,
    decode_kernels: str | None = None, decode_ahead: int | None = None,
) -> LLMEngine:
    ahead = {} if decode_ahead is None else {"decode_ahead": decode_ahead}  # None: the default
    config = EngineConfig(device=device, kv_cache_bytes=kv_cache_bytes, max_num_seqs=16,
                          max_num_batched_tokens=16384, max_model_len=max_len, decode_burst=decode_burst,
                          decode_kernels=decode_kernels, **ahead)
    return LLMEngine(models.loaded, config)


class PromptMaker:
    """Random token ids standing for repository segments, current files and typed tails."""

    def __init__(self, vocab_size: int, seed: int = 0) -> None:
        self.vocab_size = vocab_size
        self.generator = torch.Generator().manual_seed(seed)

    def tokens(self, count: int) -> list[int]:
        # avoid id 0 (the EOS of this setup) so nothing stops early even without ignore_eos
        return torch.randint(1, self.vocab_size, (count,), generator=self.generator).tolist()


# -- device ceilings ---------------------------------------------------------------------------

def median_seconds(fn, *, repeats: int, warmup: int = 2) -> float:
    """Median wall time of fn(); synchronises the GPU around each call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def kernel_seconds(fn, device: str) -> float:
    """Median device time of fn (triton's do_bench on CUDA, wall clock on CPU)."""
    if device == "cuda":
        from triton.testing import do_bench

        return do_bench(fn, warmup=25, rep=200, return_mode="median") / 1e3
    return median_seconds(fn, repeats=5)


def copy_bandwidth(device: str) -> float:
    """Device-to-device copy bytes/s, counting bytes read plus written (1 GiB on CUDA)."""
    numel = (2**29 if device == "cuda" else 2**24)
    src = torch.randn(numel, device=device, dtype=torch.bfloat16)
    dst = torch.empty_like(src)
    seconds = kernel_seconds(lambda: dst.copy_(src), device)
    return 2 * src.numel() * src.element_size() / seconds


def matmul_flops(device: str, dtype: torch.dtype) -> float:
    """Measured matmul FLOP/s (8192^3 bf16 on CUDA) on random data."""
    n = 8192 if device == "cuda" else 512
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    seconds = kernel_seconds(lambda: a @ b, device)
    return 2.0 * n**3 / seconds
