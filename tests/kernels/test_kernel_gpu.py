"""The Triton kernels on a real GPU: bf16 at model-sized shapes against the fp32 references,
CUDA-graph capture of decode, and the tiny model through attention_backend vs the CPU path."""

from __future__ import annotations

import pytest
import torch
from paged_cases import make_case, relative_error

from codepager.kernels.paged_decode import paged_decode, paged_decode_ref
from codepager.kernels.paged_extend import EXTEND_CONFIGS, paged_extend, paged_extend_ref
from codepager.kernels.pdl import pdl_supported
from codepager.kernels.rope import rope_and_store_kv
from codepager.kernels.store_kv import store_kv, store_kv_ref

pytestmark = pytest.mark.gpu
BF16_TOLERANCE = 2e-2


def _upcast(case):
    layout = case.layout()
    layout["k_cache"] = layout["k_cache"].float()
    layout["v_cache"] = layout["v_cache"].float()
    return layout


DECODE_SHAPES = {
    "12q2kv_mixed": ([[(4000, 0)], [(1, 0)], [(1500, 0)], [(333, 0)]], 12, 2),
    "28q4kv_segments_shifted": ([[(700, 0), (250, 700), (37, 0)], [(2000, 5000)]], 28, 4),
    "32q8kv_long": ([[(16000, 0)]], 32, 8),
}


def _pdl_here() -> bool:
    return torch.cuda.is_available() and pdl_supported(torch.device("cuda"))


@pytest.mark.parametrize("name", sorted(DECODE_SHAPES))
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("pdl", [False, True], ids=["plain", "pdl"])
@pytest.mark.parametrize("merge_pdl", [False, True], ids=["merge_plain", "merge_pdl"])
def test_decode_on_gpu(name, dtype, pdl, merge_pdl):
    if pdl and not _pdl_here():
        pytest.skip("programmatic dependent launch needs a Hopper-class GPU")
    segments, q_heads, kv_heads = DECODE_SHAPES[name]
    gen = torch.Generator().manual_seed(1)
    case = make_case(segments=segments, num_kv_heads=kv_heads, head_dim=128, dtype=dtype,
                     device="cuda", generator=gen)
    q = torch.randn(len(segments), q_heads, 128, generator=gen).to(dtype).cuda()
    out = paged_decode(q=q, scale=128**-0.5, pdl=pdl, config={"merge_pdl": merge_pdl}, **case.layout())
    ref = paged_decode_ref(q=q.float(), scale=128**-0.5, **_upcast(case))
    assert torch.isfinite(out).all()
    assert relative_error(out, ref) < (BF16_TOLERANCE if dtype == torch.bfloat16 else 1e-4)


@pytest.mark.skipif(not _pdl_here(), reason="programmatic dependent launch needs a Hopper-class GPU")
@pytest.mark.parametrize("num_splits", [11, 41, None])
def test_chained_decode_reads_the_keys_stored_just_before_it(num_splits):
    # Three rows of one sequence, a short extend whose tokens 639..641 cross into a new page (entry
    # 40), each row's page lens clipped at its own position, as the engine's decode graphs run it.
    # The store is the kernel right before the decode in a PDL chain: the decode must not take
    # these slots' old contents, which is what a first tile loaded before its wait would read.
    gen = torch.Generator().manual_seed(7)
    case = make_case(segments=[[(642, 0)]], num_kv_heads=2, head_dim=128, dtype=torch.bfloat16,
                     device="cuda", generator=gen)
    tables, lens = case.block_tables.repeat(3, 1), case.page_lens.repeat(3, 1)
    lens[0, 39], lens[0, 40], lens[1, 40] = 15, 0, 1  # rows see up to 639, 640, 641
    slots = (tables[0, [39, 40, 40]].long() * 16 + torch.tensor([15, 0, 1], device="cuda"))
    q, k, v = (torch.randn(3, heads, 128, generator=gen).to(torch.bfloat16).cuda() for heads in (12, 2, 2))
    cos = torch.ones(3, 128, device="cuda", dtype=torch.bfloat16)  # no rotation: k is stored as is
    layout = dict(case.layout(), block_tables=tables, page_starts=case.page_starts.repeat(3, 1),
                  page_lens=lens)
    for _ in range(3):  # old contents back in the slots, then store and decode chained
        case.k_cache.view(-1, 2, 128)[slots] = -k
        case.v_cache.view(-1, 2, 128)[slots] = -v
        rope_and_store_kv(q=q.clone(), k=k, v=v, cos=cos, sin=torch.zeros_like(cos), k_cache=case.k_cache,
                          v_cache=case.v_cache, slot_mapping=slots, pdl=True)
        out = paged_decode(q=q, scale=128**-0.5, num_splits=num_splits, pdl=True, **layout)
        ref = paged_decode_ref(q=q.float(), scale=128**-0.5, **dict(
            layout, k_cache=case.k_cache.float(), v_cache=case.v_cache.float()))
        assert relative_error(out, ref) < BF16_TOLERANCE


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("shifted", [False, True], ids=["plain_pages", "shifted_pages"])
@pytest.mark.parametrize("config", [None, "cuda", "cuda_narrow"], ids=["launcher_choice", "wide", "narrow"])
def test_extend_on_gpu(dtype, shifted, config):
    if config == "cuda" and dtype == torch.float32:
        pytest.skip("128-key fp32 tiles do not fit in shared memory; the launcher narrows them")
    gen = torch.Generator().manual_seed(2)
    segments = [[(1000, 0), (300, 0)], [(90, 900 if shifted else 0), (500, 0)], [(129, 0)]]
    new_tokens = [300, 500, 129]
    case = make_case(segments=segments, num_kv_heads=4, head_dim=128, dtype=dtype, device="cuda",
                     generator=gen)
    positions, cu = [], [0]
    for seq_len, n in zip(case.seq_lens, new_tokens, strict=True):
        positions.extend(range(seq_len - n, seq_len))
        cu.append(len(positions))
    q = torch.randn(len(positions), 28, 128, generator=gen).to(dtype).cuda()
    kwargs = dict(cu_seqlens_q=torch.tensor(cu, dtype=torch.int32, device="cuda"),
                  q_positions=torch.tensor(positions, dtype=torch.int32, device="cuda"), scale=128**-0.5)
    assert (case.layout()["page_shifts"] is not None) == shifted
    out = paged_extend(q=q, **kwargs, config=config and EXTEND_CONFIGS[config],
                       **case.layout())
    ref = paged_extend_ref(q=q.float(), **kwargs, **_upcast(case))
    assert torch.isfinite(out).all()
    assert relative_error(out, ref) < (BF16_TOLERANCE if dtype == torch.bfloat16 else 1e-4)


def test_store_kv_on_gpu_is_exact():
    gen = torch.Generator().manual_seed(3)
    key = torch.randn(300, 8, 128, generator=gen).cuda()
    value = torch.randn(300, 8, 128, generator=gen).cuda()
    slots = torch.randperm(64 * 16, generator=gen)[:300].cuda()
    slots[::7] = -1
    caches = [torch.randn(64, 16, 8, 128, generator=gen).bfloat16().cuda() for _ in range(2)]
    expected = [c.clone() for c in caches]
    store_kv(key=key, value=value, k_cache=caches[0], v_cache=caches[1], slot_mapping=slots)
    store_kv_ref(key=key, value=value, k_cache=expected[0], v_cache=expected[1], slot_mapping=slots)
    assert torch.equal(caches[0], expected[0]) and torch.equal(caches[1], expected[1])


def test_decode_replays_in_a_cuda_graph_with_new_data():
    gen = torch.Generator().manual_seed(4)
    case = make_case(segments=[[(900, 0)], [(300, 0)]], num_kv_heads=2, head_dim=128,
                     dtype=torch.bfloat16, device="cuda", extra_entries=10, generator=gen)
    q = torch.randn(2, 12, 128, generator=gen).bfloat16().cuda()
    layout = case.layout()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        paged_decode(q=q, scale=0.1, **layout)  # compile outside capture
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = paged_decode(q=q, scale=0.1, **layout)
    q.copy_(torch.randn(2, 12, 128, generator=gen).bfloat16().cuda())
    case.page_lens[1, 18] = 16  # the second sequence grows: its last page fills up
    case.v_cache.copy_(torch.randn(case.v_cache.shape, generator=gen).bfloat16().cuda())
    graph.replay()
    ref = paged_decode_ref(q=q.float(), scale=0.1, **_upcast(case))
    assert relative_error(out, ref) < BF16_TOLERANCE


def test_tiny_model_on_gpu_matches_cpu(tmp_path):
    from codepager.model import load_model
    from codepager.model.attention_backend import AttentionMetadata
    from codepager.model.testing import make_tiny_model_dir

    path = make_tiny_model_dir(tmp_path / "qwen2", "qwen2")
    models = {dev: load_model(path, device=dev, dtype=torch.float32) for dev in ("cpu", "cuda")}
    prompt = list(range(3, 40))
    logits = {}
    for dev, loaded in models.items():
        model = loaded.model
        kv = model.allocate_kv_caches(8)
        tables = torch.full((1, 8), -1, dtype=torch.int32)
        tables[0, :3] = torch.tensor([5, 1, 6])
        got = []
        for lo, hi in ((0, 30), (30, 31), (31, 37)):
            lens = torch.clamp(hi - torch.arange(8) * 16, 0, 16).to(torch.int32)[None]
            positions = torch.arange(lo, hi)
            slots = tables[0, positions // 16].long() * 16 + positions % 16
            meta = AttentionMetadata(
                slot_mapping=slots.to(dev), block_tables=tables.to(dev),
                page_starts=(torch.arange(8, dtype=torch.int32) * 16)[None].to(dev),
                page_lens=lens.to(dev), page_shifts=None,
                cu_seqlens_q=torch.tensor([0, hi - lo], dtype=torch.int32, device=dev),
                q_positions=positions.to(torch.int32).to(dev), is_decode=hi - lo == 1,
            )
            ids = torch.tensor(prompt[lo:hi], device=dev)
            with torch.inference_mode():
                got.append(model.compute_logits(model(ids, positions.to(dev), meta, kv)).cpu())
        logits[dev] = torch.cat(got)
    assert relative_error(logits["cuda"], logits["cpu"]) < 1e-3
