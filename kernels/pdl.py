"""Programmatic dependent launch (PDL, Hopper and later): a kernel launched with it may start while
the kernel before it in the stream is still finishing, so its launch and its independent loads
(weights) overlap that kernel's tail instead of following it.

Contract of every kernel that takes a PDL flag: nothing written by an earlier kernel is read, and
nothing is written, before `pdl_wait_then_release` (griddepcontrol.wait returns once the previous
grid has completed and its writes are visible); only data no kernel of the step writes (weights) may
be loaded before it. After the wait the kernel lets its own dependent launch early. Chained this
way, every kernel still sees all earlier kernels complete (each one waits for the one before, which
waited for the one before it), so reusing freed memory inside a captured graph stays safe.
"""

import functools

import torch

from codepager.kernels.triton_import import HAS_TRITON, tl, triton

if HAS_TRITON:
    from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait
else:  # pragma: no cover - kernels are not compiled without triton
    gdc_launch_dependents = gdc_wait = None


@triton.jit
def pdl_wait_then_release(PDL: tl.constexpr):
    if PDL:
        gdc_wait()
        gdc_launch_dependents()


@triton.jit
def pdl_release(RELEASE: tl.constexpr):
    """Let the dependent kernel launch now (its programs wait for this grid before reading anything
    it writes): for a kernel launched plainly whose successor is a PDL-launched merge."""
    if RELEASE:
        gdc_launch_dependents()


@functools.cache
def pdl_supported(device: torch.device) -> bool:
    """PDL needs a CUDA device of compute capability 9.0 or newer (the interpreter has none). Asked
    once per device: the decode launcher asks on every call."""
    return HAS_TRITON and device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 9


def pdl_launch_options(pdl: bool) -> dict:
    """Extra launch keywords for a kernel call: launch_pdl only when asked (the interpreter does not
    take it)."""
    return {"launch_pdl": True} if pdl else {}
