"""The engine's settings (one validated dataclass) and the per-request sampling parameters."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from codepager.errors import ConfigError

if TYPE_CHECKING:
    import torch

DEFAULT_CPU_KV_CACHE_BYTES = 256 * 1024 * 1024
# Tokens per step when max_num_batched_tokens is None. On CPU a step is also the longest stretch
# a request cannot be cancelled in (a 256-token chunk is ~0.1-0.3 s there, and not slower overall
# than 2048-token chunks); on CUDA larger chunks keep the GPU busy.
DEFAULT_BATCHED_TOKENS = {"cpu": 256}
DEFAULT_ACCELERATOR_BATCHED_TOKENS = 2048
# Greedy decode steps per host round trip when decode_burst is None: on CUDA the host's per-step
# Python (~0.6 ms) would otherwise leave the GPU idle; on CPU the host work is the compute.
DEFAULT_DECODE_BURST = {"cuda": 4}


def _from_dict(cls: type, settings: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(
            f"unknown {cls.__name__} setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**settings)


def _decode_kernel_sets() -> tuple[str, ...]:
    """The model's DECODE_KERNELS, imported only when a setting names one: this module stays
    free of torch, as the scheduler side of the engine is."""
    from codepager.model.decoder import DECODE_KERNELS

    return DECODE_KERNELS


@dataclass(slots=True)
class EngineConfig:
    """KV pool size (num_pages wins over kv_cache_bytes; on CUDA without either, a share of free
    memory), batching limits (max_num_batched_tokens None = by device: 256 on CPU, 2048 on CUDA),
    the context length (None = the model's), the greedy decode steps run per host
    synchronisation (decode_burst None = by device: 4 on CUDA, 1 on CPU), the steps of a burst
    launched before the running one's tokens are read (decode_ahead, 0 = none; bursts only) and torch's CPU
    threads (cpu_threads None = torch's default; set process-wide when the engine runs on the CPU)."""

    num_pages: int | None = None
    kv_cache_bytes: int | None = None
    gpu_memory_utilization: float = 0.9
    max_num_seqs: int = 64
    max_num_batched_tokens: int | None = None
    max_model_len: int | None = None
    enable_prefix_caching: bool = True
    device: str = "cpu"
    dtype: str | None = None
    cuda_graphs: bool = True  # decode steps replayed from CUDA graphs (CUDA only)
    decode_burst: int | None = None  # greedy decode steps per host sync (None: 4 on CUDA, 1 on CPU)
    # Steps launched before a burst's tokens are read (0: none), hiding the host's work between
    # bursts: 2 decodes 7 % faster on the H100 at no cost to the TTFT after a cancel, 4 a little
    # faster still but that TTFT +3 ms (1.5b/16k; decisions)
    decode_ahead: int = 2
    # Decode steps of <= 4 rows on CUDA: "cublas", "triton" or "triton_pdl" (codepager.model.decoder
    # DECODE_KERNELS); None = by device (decode_kernels_for)
    decode_kernels: str | None = None
    cpu_threads: int | None = None  # torch intra-op threads on CPU (None: torch's default)

    def __post_init__(self) -> None:
        if self.num_pages is not None and self.num_pages < 1:
            raise ConfigError(f"num_pages must be at least 1, got {self.num_pages}")
        if self.kv_cache_bytes is not None and self.kv_cache_bytes < 1:
            raise ConfigError(f"kv_cache_bytes must be positive, got {self.kv_cache_bytes}")
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ConfigError(f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        if self.max_num_seqs < 1:
            raise ConfigError(f"max_num_seqs must be at least 1, got {self.max_num_seqs}")
        if self.max_num_batched_tokens is not None and self.max_num_batched_tokens < 1:
            raise ConfigError(f"max_num_batched_tokens must be at least 1, got {self.max_num_batched_tokens}")
        if self.max_model_len is not None and self.max_model_len < 2:
            raise ConfigError(f"max_model_len must be at least 2, got {self.max_model_len}")
        ahead = self.decode_ahead
        if isinstance(ahead, bool) or not isinstance(ahead, int) or ahead < 0:
            raise ConfigError(f"decode_ahead must be a number of steps >= 0, got {self.decode_ahead!r}")
        if self.decode_kernels is not None and self.decode_kernels not in _decode_kernel_sets():
            raise ConfigError(f"decode_kernels must be one of {', '.join(_decode_kernel_sets())}, got "
                              f"{self.decode_kernels!r}")
        if self.decode_burst is not None and self.decode_burst < 1:
            raise ConfigError(f"decode_burst must be at least 1, got {self.decode_burst}")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise ConfigError(f"cpu_threads must be at least 1, got {self.cpu_threads}")
        if self.dtype not in (None, "float32", "float16", "bfloat16"):
            raise ConfigError(f"dtype must be float32, float16 or bfloat16, got {self.dtype!r}")

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> EngineConfig:
        return _from_dict(cls, settings)

    def batched_tokens_for(self, device_type: str) -> int:
        """Tokens per engine step on a device of this type ("cpu", "cuda", ...)."""
        if self.max_num_batched_tokens is not None:
            return self.max_num_batched_tokens
        return DEFAULT_BATCHED_TOKENS.get(device_type, DEFAULT_ACCELERATOR_BATCHED_TOKENS)

    def decode_kernels_for(self, device: torch.device) -> str:
        """The decode kernels on this device: chained Triton projections where PDL exists."""
        if self.decode_kernels is not None:
            return self.decode_kernels
        from codepager.kernels.pdl import pdl_supported  # torch: only where a model is loaded

        return "triton_pdl" if pdl_supported(device) else "cublas"

    def decode_burst_for(self, device_type: str) -> int:
        """Greedy decode steps run per host synchronisation on a device of this type."""
        if self.decode_burst is not None:
            return self.decode_burst
        return DEFAULT_DECODE_BURST.get(device_type, 1)


@dataclass(slots=True)
class SamplingParams:
    """temperature 0 = greedy. stop_token_ids None = the model's EOS ids; ignore_eos drops them.
    Stop strings end generation on the detokenized text and are not part of the output."""

    max_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop_token_ids: list[int] | None = None
    stop: list[str] = field(default_factory=list)
    ignore_eos: bool = False
    keep_prompt_logits: bool = False

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if isinstance(self.stop, str):
            self.stop = [self.stop]
        if any(not s for s in self.stop):
            raise ConfigError("stop strings must be non-empty")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> SamplingParams:
        return _from_dict(cls, settings)
