"""small_m_linear against torch.nn.functional.linear: under TRITON_INTERPRET=1 on CPU (fp32, fp16,
small shapes whose N and K are not multiples of the tiles), and in bf16 on the GPU at the decode
shapes of Qwen2.5-Coder 1.5B and 7B."""

import pytest
import torch
import torch.nn.functional as F

from codepager.kernels.small_m_linear import (
    SMALL_M_CONFIGS,
    SmallMConfig,
    shape_class,
    small_m_linear,
    small_m_linear_ref,
    split_k_for,
)

TOLERANCES = {torch.float32: (1e-5, 1e-5), torch.float16: (2e-3, 2e-3), torch.bfloat16: (2e-2, 2e-2)}
# (N, K) of the 1.5B and 7B decode projections: qkv, o, gate_up, down
DECODE_SHAPES = [(2048, 1536), (1536, 1536), (17920, 1536), (1536, 8960),
                 (4608, 3584), (3584, 3584), (37888, 3584), (3584, 18944)]


# the interpreter tests run the real kernel where there is a GPU (the interpreter is off there)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def make_inputs(m: int, n: int, k: int, dtype: torch.dtype, *, bias: bool, device: str = DEVICE,
                seed: int = 0):
    gen = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(m, k, generator=gen, device=device).to(dtype)
    weight = (torch.randn(n, k, generator=gen, device=device) / k**0.5).to(dtype)
    b = torch.randn(n, generator=gen, device=device).to(dtype) if bias else None
    return x, weight, b


def expected(x, weight, bias):
    """float32 product of the same (rounded) inputs."""
    return F.linear(x.float(), weight.float(), None if bias is None else bias.float())


def assert_matches(out, x, weight, bias):
    atol, rtol = TOLERANCES[x.dtype]
    assert out.dtype == x.dtype and out.shape == (x.shape[0], weight.shape[0])
    torch.testing.assert_close(out.float(), expected(x, weight, bias), atol=atol, rtol=rtol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("m", [1, 3, 8, 16])
@pytest.mark.parametrize("bias", [False, True])
def test_matches_linear(dtype, m, bias):
    x, weight, b = make_inputs(m, 45, 150, dtype, bias=bias, seed=m)
    assert_matches(small_m_linear(x=x, weight=weight, bias=b), x, weight, b)


@pytest.mark.parametrize("split_k", [1, 3, 4])
@pytest.mark.parametrize("dot_from_m", [1, 17])
def test_split_k_and_both_products(split_k, dot_from_m):
    """Every split count (ranges not multiples of the tile) and both the broadcast-sum and the
    tl.dot product give the same result."""
    config = SmallMConfig(block_n=16, block_k=32, num_warps=4, num_stages=1, dot_from_m=dot_from_m,
                          split_k=split_k)
    x, weight, b = make_inputs(3, 40, 200, torch.float32, bias=True)
    assert split_k_for(n=40, k=200, config=config, sm_count=132)[0] == split_k
    assert_matches(small_m_linear(x=x, weight=weight, bias=b, config=config), x, weight, b)


def test_strided_rows_and_out():
    """x rows and out rows may be strided views (e.g. slices of wider buffers)."""
    x_wide, weight, b = make_inputs(4, 24, 96, torch.float32, bias=True)
    x = x_wide[:, :64]
    weight = weight[:, :64].contiguous()
    out_wide = torch.full((4, 40), 7.0, device=DEVICE)
    out = out_wide[:, 8:32]
    returned = small_m_linear(x=x, weight=weight, bias=b, out=out)
    assert returned.data_ptr() == out.data_ptr()
    assert_matches(out, x, weight, b)
    assert (out_wide[:, :8] == 7.0).all() and (out_wide[:, 32:] == 7.0).all()


def test_reference_is_linear():
    x, weight, b = make_inputs(2, 8, 16, torch.float32, bias=True)
    out = torch.empty(2, 8, device=DEVICE)
    assert small_m_linear_ref(x=x, weight=weight, bias=b, out=out) is out
    torch.testing.assert_close(out, F.linear(x, weight, b))


@pytest.mark.parametrize(("n", "k"), DECODE_SHAPES)
def test_cuda_configs_fill_the_gpu(n, k):
    """With the CUDA table, every decode shape launches at least one program per H100 SM."""
    config = SMALL_M_CONFIGS["cuda"][shape_class(n=n, k=k)]
    splits, k_per_split = split_k_for(n=n, k=k, config=config, sm_count=132)
    assert -(-n // config.block_n) * splits >= 132
    assert k_per_split % config.block_k == 0 and (splits - 1) * k_per_split < k


@pytest.mark.parametrize(("m", "n", "k", "dtype", "message"), [
    (17, 8, 16, torch.float32, "1 to 16 rows"),
    (0, 8, 16, torch.float32, "1 to 16 rows"),
    (2, 8, 16, torch.int32, "dtype"),
])
def test_launcher_rejects_bad_inputs(m, n, k, dtype, message):
    x = torch.zeros(m, k, dtype=dtype)
    weight = torch.zeros(n, k, dtype=dtype)
    with pytest.raises(AssertionError, match=message):
        small_m_linear(x=x, weight=weight)


def test_launcher_rejects_mismatched_shapes_and_dtypes():
    x, weight, b = make_inputs(2, 8, 16, torch.float32, bias=True)
    with pytest.raises(AssertionError, match="does not match"):
        small_m_linear(x=x, weight=weight[:, :12])
    with pytest.raises(AssertionError, match="share a dtype"):
        small_m_linear(x=x, weight=weight.half())
    with pytest.raises(AssertionError, match="bias"):
        small_m_linear(x=x, weight=weight, bias=b[:4])
    with pytest.raises(AssertionError, match="out must be"):
        small_m_linear(x=x, weight=weight, out=torch.empty(2, 9))
    with pytest.raises(AssertionError, match="contiguous"):
        small_m_linear(x=x.t().contiguous().t(), weight=weight)
    with pytest.raises(AssertionError, match="x must be"):
        small_m_linear(x=x[0], weight=weight)


def test_config_is_validated():
    with pytest.raises(ValueError, match="power of two"):
        SmallMConfig(block_n=12, block_k=32, num_warps=4, num_stages=1)
    with pytest.raises(ValueError, match="tl.dot"):
        SmallMConfig(block_n=8, block_k=32, num_warps=4, num_stages=1)
    SmallMConfig(block_n=8, block_k=32, num_warps=4, num_stages=1, dot_from_m=17)
    with pytest.raises(TypeError):
        SmallMConfig(block_n=16, block_k=32, num_warps=4, num_stages=1, block_m=16)


@pytest.mark.gpu
@pytest.mark.parametrize("m", [1, 8])
@pytest.mark.parametrize(("n", "k"), DECODE_SHAPES)
def test_gpu_bf16_decode_shapes(m, n, k):
    x, weight, b = make_inputs(m, n, k, torch.bfloat16, bias=n in (2048, 4608), device="cuda")
    out = small_m_linear(x=x, weight=weight, bias=b)
    assert_matches(out, x, weight, b)
    cublas_error = (F.linear(x, weight, b).float() - expected(x, weight, b)).abs().max()
    assert (out.float() - expected(x, weight, b)).abs().max() <= 2 * cublas_error + 1e-3


@pytest.mark.gpu
def test_gpu_split_k_replays_in_a_cuda_graph():
    """The split-K path (workspace allocated in the launcher, no host reads) captures and replays."""
    x, weight, b = make_inputs(1, 1536, 8960, torch.bfloat16, bias=True, device="cuda")
    small_m_linear(x=x, weight=weight, bias=b)  # compile outside the capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = small_m_linear(x=x, weight=weight, bias=b)
    x.copy_(torch.randn_like(x))
    graph.replay()
    torch.cuda.synchronize()
    assert_matches(out, x, weight, b)
