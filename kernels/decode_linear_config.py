"""Tile configurations of the decode projection kernels (codepager.kernels.decode_linear), by
platform and shape class."""

from dataclasses import dataclass

import torch


@dataclass(frozen=True, slots=True)
class DecodeLinearConfig:
    """Tiles of one shape class. programs_per_sm > 0: when a row's K fits in block_k elements, the
    streaming kernel (x normed once per program, programs_per_sm programs per SM each streaming
    column blocks; num_stages unused); otherwise one program per column block walks K in block_k
    tiles (block_k shrinks as rows grow, keeping the broadcast product's registers bounded)."""

    block_n: int
    block_k: int
    num_warps: int
    num_stages: int
    programs_per_sm: int = 0

    def __post_init__(self) -> None:
        for name in ("block_n", "block_k", "num_warps"):
            value = getattr(self, name)
            if value < 1 or value & (value - 1):
                raise ValueError(f"DecodeLinearConfig.{name} must be a power of two, got {value}")
        if self.num_stages < 1 or self.programs_per_sm < 0:
            raise ValueError(f"DecodeLinearConfig: invalid stages or programs per SM in {self}")


# Per platform and shape class ("deep": long reductions into few columns, down_proj); the CUDA
# entries come from the H100: `benchmarks/decode_linear.py --sweep` (each kernel alone), then
# `benchmarks/decode_burst.py --linear-configs` (chained in the decode step, which decides: deep
# 2x2048 tiles in 2 stages decode a 1.5b token 7 % faster than 4x1024 in 3, equal alone).
DECODE_LINEAR_CONFIGS = {
    "cuda": {
        "shallow": DecodeLinearConfig(block_n=2, block_k=4096, num_warps=4, num_stages=1, programs_per_sm=4),
        "deep": DecodeLinearConfig(block_n=2, block_k=2048, num_warps=4, num_stages=2),
    },
    "interpreter": {
        "shallow": DecodeLinearConfig(block_n=8, block_k=128, num_warps=4, num_stages=1, programs_per_sm=1),
        "deep": DecodeLinearConfig(block_n=4, block_k=32, num_warps=4, num_stages=1),
    },
}
DEEP_K = 4 * 1024


def decode_linear_config(*, k: int, device: torch.device) -> DecodeLinearConfig:
    platform = "cuda" if device.type == "cuda" else "interpreter"
    return DECODE_LINEAR_CONFIGS[platform]["deep" if k >= DEEP_K else "shallow"]
