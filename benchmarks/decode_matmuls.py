"""The decode projections of one token (M = 1) on a GPU: which torch entry point reads the weights
fastest, against the copy bandwidth of the same run.

    python benchmarks/decode_matmuls.py [--shape 1.5b]

For each projection of the shape: F.linear (what the decoder calls: cuBLASLt's nvjet kernels),
torch.mv / torch.addmv (cuBLAS GEMV), each timed in steady state (benchmarks/gpu_timing.py: a CUDA
graph cycling over enough weight copies to miss L2). Random weights (timing only).
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F
from gpu_timing import copies_needed, copy_bandwidth, markdown, steady_ms  # benchmarks/ on sys.path

SHAPES = {  # name: [(projection, out_features, in_features, bias)]
    "1.5b": [("qkv", 2048, 1536, True), ("o", 1536, 1536, False), ("gate_up", 17920, 1536, False),
             ("down", 1536, 8960, False)],
    "7b": [("qkv", 4608, 3584, True), ("o", 3584, 3584, False), ("gate_up", 37888, 3584, False),
           ("down", 3584, 18944, False)],
}


def row(name: str, n: int, k: int, bias: bool, copy_bw: float) -> dict:
    weight_bytes = n * k * 2
    copies = []
    for _ in range(copies_needed(weight_bytes)):
        w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * 0.02
        b = torch.randn(n, device="cuda", dtype=torch.bfloat16) if bias else None
        x = torch.randn(1, k, device="cuda", dtype=torch.bfloat16)
        copies.append((w, b, x))
    variants = {
        "linear": lambda w, b, x: lambda: F.linear(x, w, b),
        "mv": (lambda w, b, x: lambda: torch.addmv(b, w, x[0])) if bias
        else (lambda w, b, x: lambda: torch.mv(w, x[0])),
    }
    w, b, x = copies[0]
    expected = F.linear(x, w, b).float()[0]
    out = {"projection": name, "shape": f"{n}x{k}", "MB": weight_bytes / 2**20}
    for label, make in variants.items():
        got = make(w, b, x)().float().reshape(-1)
        assert torch.allclose(got, expected, rtol=2e-2, atol=2e-2), f"{label} disagrees"
        us = steady_ms([make(*c) for c in copies]) * 1e3
        out[f"{label} us"] = us
        out[f"{label} % copy"] = 100 * weight_bytes / (us * 1e-6) / copy_bw
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="1.5b", choices=sorted(SHAPES))
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("needs a CUDA GPU", file=sys.stderr)
        return 1
    copy_bw = copy_bandwidth()
    rows = [row(name, n, k, bias, copy_bw) for name, n, k, bias in SHAPES[args.shape]]
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, copy {copy_bw / 1e9:.0f} GB/s, "
          f"shape {args.shape}, M = 1, bf16\n\n{markdown(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
