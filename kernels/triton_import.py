"""Triton, when installed; otherwise stand-ins so that kernel modules still import (their plain-torch
references work without Triton; only the launchers need it).

Kernel modules must not use `from __future__ import annotations`: Triton reads `tl.constexpr`
annotations as objects.
"""

try:
    import triton
    import triton.language as tl

    HAS_TRITON = True
except ImportError:  # pragma: no cover - exercised only on machines without triton
    HAS_TRITON = False

    class _MissingTriton:
        @staticmethod
        def constexpr(value=None):  # an annotation, or a module-level constant's wrapper
            return value

        @staticmethod
        def jit(fn=None, **_kwargs):
            return fn if fn is not None else (lambda f: f)

        @staticmethod
        def cdiv(a: int, b: int) -> int:
            return -(-a // b)

        @staticmethod
        def next_power_of_2(n: int) -> int:
            return 1 << max(n - 1, 0).bit_length()

    triton = tl = _MissingTriton()

__all__ = ["HAS_TRITON", "triton", "tl"]


def require_triton() -> None:
    assert HAS_TRITON, "the Triton kernels need triton installed; use the *_ref functions instead"
