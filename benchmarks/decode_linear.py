"""The fused decode projections (codepager.kernels.decode_linear) against what they replace: cuBLAS
F.linear with the fused elementwise kernels around it, per projection of one decoder layer, one
token row, bf16.

    qkv:     add_rms_norm + F.linear(bias)         vs  decode_linear(residual, norm_weight, bias)
    qkv+rope: the same + rope_and_store_kv          vs  decode_linear(..., rope=RopeStore)
    o:       F.linear                              vs  decode_linear
    gate_up: add_rms_norm + F.linear + silu_and_mul vs decode_linear(residual, norm_weight, swiglu)
    down:    F.linear                              vs  decode_linear
    and the greedy argmax after lm_head:   torch.argmax vs greedy_argmax (two small kernels)

Timing is steady state (gpu_timing.py: a CUDA graph of back-to-back calls over weight copies that
miss the L2), without PDL (a graph of one kernel kind has no neighbour to overlap with; the chained
effect is end to end: decode_burst.py --kernels). Bandwidth = weight bytes / time, against a 1 GiB
device-to-device copy of the same run.

    python3 benchmarks/decode_linear.py [--shapes 1.5b,7b] [--sweep] [--markdown PATH]

--sweep times a grid of tile configurations per shape (1.5b and 7b) and prints, per shape class of
DECODE_LINEAR_CONFIGS, the configuration with the lowest mean time relative to each shape's best.
"""

from __future__ import annotations

import argparse
import itertools
import sys

import torch
import torch.nn.functional as F
from gpu_timing import copies_needed, copy_bandwidth, markdown, report, steady_ms  # benchmarks/ on sys.path

from codepager.kernels.argmax import greedy_argmax
from codepager.kernels.decode_linear import RopeStore, decode_linear
from codepager.kernels.decode_linear_config import DEEP_K, DecodeLinearConfig
from codepager.kernels.rms_norm import add_rms_norm
from codepager.kernels.rope import rope_and_store_kv
from codepager.kernels.swiglu import silu_and_mul

SHAPES = {  # hidden, intermediate, q heads, kv heads (head_dim 128)
    "1.5b": (1536, 8960, 12, 2),
    "7b": (3584, 18944, 28, 4),
}


class Projection:
    """Copies of one projection's weights (enough to miss L2) with the inputs its fusion needs."""

    def __init__(self, name: str, n: int, k: int, dtype: torch.dtype,
                 heads: tuple[int, int] = (0, 0)) -> None:
        gen = torch.Generator(device="cuda").manual_seed(n + k)
        self.name, self.n, self.k = name, n, k
        self.weight_bytes = n * k * 2
        copies = copies_needed(self.weight_bytes)
        rand = lambda *shape, scale=1.0: (scale * torch.randn(*shape, generator=gen, device="cuda")).to(dtype)  # noqa: E731
        self.weights = [rand(n, k, scale=k**-0.5) for _ in range(copies)]
        self.x = [rand(1, k) for _ in range(copies)]
        self.residual = [rand(1, k) for _ in range(copies)]
        self.norm_weight = 1.0 + rand(k, scale=0.1)
        self.bias = rand(n) if name.startswith("qkv") else None
        self.normed = name in ("qkv", "qkv+rope", "gate_up")
        self.swiglu = name == "gate_up"
        self.rope = None
        if name == "qkv+rope":  # RoPE and the K/V store of the token: in the epilogue, or rope_and_store_kv
            caches = [torch.zeros(4, 16, heads[1], 128, device="cuda", dtype=dtype) for _ in range(2)]
            angle = (torch.rand(1, 64, generator=gen, device="cuda") * 100).repeat(1, 2)  # (1, D)
            self.rope = RopeStore(cos=angle.cos().to(dtype), sin=angle.sin().to(dtype),
                                  k_cache=caches[0], v_cache=caches[1],
                                  slot_mapping=torch.tensor([21], device="cuda"), num_q_heads=heads[0],
                                  num_kv_heads=heads[1])

    def ours(self, config: DecodeLinearConfig | None = None) -> list:
        def call(i: int):
            extra = dict(residual=self.residual[i], norm_weight=self.norm_weight) if self.normed else {}
            return decode_linear(x=self.x[i], weight=self.weights[i], bias=self.bias, swiglu=self.swiglu,
                                 rope=self.rope, config=config, **extra)[0]
        return [lambda i=i: call(i) for i in range(len(self.weights))]

    def cublas(self) -> list:
        def call(i: int):
            x = self.x[i]
            if self.normed:
                x, _ = add_rms_norm(x=x, residual=self.residual[i], weight=self.norm_weight, eps=1e-6)
            y = F.linear(x, self.weights[i], self.bias)
            if self.rope is not None:
                q, k, v = self.rope.split_heads(y)
                r = self.rope
                rope_and_store_kv(q=q, k=k, v=v, cos=r.cos, sin=r.sin, k_cache=r.k_cache, v_cache=r.v_cache,
                                  slot_mapping=r.slot_mapping)
            return silu_and_mul(gate_up=y) if self.swiglu else y
        return [lambda i=i: call(i) for i in range(len(self.weights))]

    def relative_error(self) -> float:
        ours, ref = self.ours()[0]().float(), self.cublas()[0]().float()
        return float((ours - ref).norm() / ref.norm())


def projections(shape: str) -> list[Projection]:
    hidden, inter, heads, kv_heads = SHAPES[shape]
    qkv = (heads + 2 * kv_heads) * 128
    dims = {"qkv": (qkv, hidden), "qkv+rope": (qkv, hidden), "o": (hidden, heads * 128),
            "gate_up": (2 * inter, hidden), "down": (hidden, inter)}
    return [Projection(name, n, k, torch.bfloat16, (heads, kv_heads)) for name, (n, k) in dims.items()]


def sweep_grid(deep: bool) -> list[DecodeLinearConfig]:
    if deep:  # one program per column block walking K
        return [DecodeLinearConfig(block_n=bn, block_k=bk, num_warps=w, num_stages=s)
                for bn, bk, (w, s) in itertools.product([2, 4, 8], [512, 1024, 2048],
                                                        [(4, 2), (4, 3), (8, 3)])]
    return [DecodeLinearConfig(block_n=bn, block_k=4096, num_warps=w, num_stages=1, programs_per_sm=p)
            for bn, w, p in itertools.product([2, 4, 8, 16], [4, 8], [2, 4, 8, 16])]


def sweep(shapes: list[str], classes: list[str]) -> str:
    problems = [p for shape in shapes for p in projections(shape)]
    lines = []
    for cls, deep in [(c, c == "deep") for c in classes]:
        grid = sweep_grid(deep)
        members = [i for i, p in enumerate(problems) if (p.k >= DEEP_K) == deep]
        times: dict[tuple[int, DecodeLinearConfig], float] = {}
        for config, i in itertools.product(grid, members):
            try:
                times[(i, config)] = steady_ms(problems[i].ours(config), rep=40)
            except Exception as error:  # noqa: BLE001 - a config may not fit (registers, shared memory)
                print(f"{problems[i].name} {config}: failed ({type(error).__name__})", flush=True)
        best = {i: min(times.get((i, c), float("inf")) for c in grid) for i in members}
        score = lambda c: sum(times.get((i, c), float("inf")) / best[i] for i in members) / len(members)  # noqa: E731, B023
        chosen = min(grid, key=score)
        lines.append(f"class {cls}: {chosen} at {score(chosen):.3f}x of each shape's best")
        for i in members:
            p = problems[i]
            fastest = min(grid, key=lambda c: times.get((i, c), float("inf")))  # noqa: B023
            lines.append(f"  {p.name} {p.n}x{p.k}: best {best[i] * 1e3:.1f} us ({fastest}), chosen "
                         f"{times.get((i, chosen), float('nan')) * 1e3:.1f} us")
    return "\n".join(lines)


def argmax_rows() -> list[dict]:
    """codepager.kernels.argmax against torch.argmax on logits rows (bf16, vocabularies of Qwen2.5
    and Llama 3), copies cycled as for the projections."""
    rows = []
    for vocab in (151936, 128256):
        for m in (1, 4):
            copies = [torch.randn(m, vocab, device="cuda", dtype=torch.bfloat16)
                      for _ in range(copies_needed(m * vocab * 2))]
            ours = steady_ms([lambda x=x: greedy_argmax(logits=x) for x in copies])
            peer = steady_ms([lambda x=x: torch.argmax(x, dim=-1) for x in copies])
            same = all(torch.equal(greedy_argmax(logits=x), torch.argmax(x, dim=-1)) for x in copies[:4])
            rows.append({"rows x vocab": f"{m} x {vocab}", "triton us": ours * 1e3,
                         "torch.argmax us": peer * 1e3, "speedup": peer / ours, "same tokens": same})
            print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="1.5b,7b")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--classes", default="shallow,deep", help="shape classes to sweep")
    parser.add_argument("--markdown", help="write the tables to this file too")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("needs a CUDA GPU", file=sys.stderr)
        return 1
    shapes = args.shapes.split(",")
    text = f"{torch.cuda.get_device_name()}, torch {torch.__version__}\n\n"
    if args.sweep:
        text += sweep(shapes, args.classes.split(",")) + "\n\n"
        print(text, flush=True)
    copy_bw = copy_bandwidth()
    rows = []
    for shape in shapes:
        for p in projections(shape):
            ours, peer = steady_ms(p.ours()), steady_ms(p.cublas())
            rows.append({"shape": shape, "projection": p.name, "N x K": f"{p.n} x {p.k}",
                         "fused us": ours * 1e3, "cuBLAS path us": peer * 1e3, "speedup": peer / ours,
                         "fused % copy": 100 * p.weight_bytes / (ours * 1e-3) / copy_bw,
                         "cuBLAS % copy": 100 * p.weight_bytes / (peer * 1e-3) / copy_bw,
                         "rel err": p.relative_error()})
            print(rows[-1], flush=True)
    text += f"device-to-device copy: {copy_bw / 1e9:.0f} GB/s (read + written)\n\n{markdown(rows)}\n"
    text += f"\ngreedy argmax of one row of logits (after lm_head)\n\n{markdown(argmax_rows())}\n"
    report(text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
