"""Decode steps from CUDA graphs: staged inputs equal ModelRunner.prepare (CPU), and replaying a graph
gives what the eager step gives (GPU)."""

from __future__ import annotations

import pytest
import torch

from codepager.engine.config import EngineConfig, SamplingParams
from codepager.engine.cuda_graphs import MAX_CHUNK_ROWS, batch_bucket, chainable_rows, pages_bucket
from codepager.engine.decode_batch import DecodeBatchBuilder
from codepager.engine.llm_engine import LLMEngine
from codepager.engine.model_runner import LaunchedBurst
from codepager.model.decoder import DECODE_KERNELS
from codepager.model.loader import load_model
from codepager.model.testing import make_tiny_model_dir

GREEDY = SamplingParams(max_tokens=40, ignore_eos=True)


def test_only_steps_of_consecutive_positions_run_chained():
    assert chainable_rows([[40, 41, 42], [7], []])  # a typed suffix, a decode row, a cache hit
    assert not chainable_rows([[40, 41, 60]])  # a chunk that skipped a cached segment
    assert not chainable_rows([[3], [10, 12]])


def test_buckets_cover_and_stay_close():
    assert [batch_bucket(n) for n in (1, 2, 3, 5, 8, 9, 17, 64)] == [1, 2, 4, 8, 8, 16, 24, 64]
    for pages in range(1, 5000):
        bucket = pages_bucket(pages)
        assert pages <= bucket < pages + max(16, pages / 8)
    assert len({pages_bucket(p) for p in range(1, 2049)}) <= 48  # few graphs up to 32k tokens


def graph_steps(engine: LLMEngine, prompts, on_step) -> None:
    """Run prompts to completion, calling on_step(chunks) before every step of short chunks only."""
    forward = engine.runner.forward

    def watched(chunks):
        if all(c.end - c.start <= MAX_CHUNK_ROWS for c in chunks):
            on_step(chunks)
        return forward(chunks)

    engine.runner.forward = watched
    engine.generate(prompts, GREEDY)


def test_staged_rows_equal_prepare_over_growth_segments_and_batches(make_engine):
    engine = make_engine(num_pages=64, max_num_batched_tokens=64)
    segment = engine.encode_segment(engine.tokenizer.encode("def get(self, key):\n    return self.items"))
    prompts = [
        engine.encode_prompt("import os\n" * 3),
        [engine.encode_prompt("x = 1\n"), segment, engine.tokenizer.encode("\ny = get(")],  # shifted
        engine.encode_prompt("class Cache:\n    def put(self, key, value):\n"),
    ]
    builder = DecodeBatchBuilder(max_batch_size=64, max_pages=32, pin_memory=False)
    steps = []

    def compare(chunks):
        rows = [len(c.positions) for c in chunks]
        batch = batch_bucket(sum(rows))
        pages = pages_bucket(max(len(c.seq.block_table) for c in chunks))
        has_shift = builder.fill(chunks, batch, pages)
        tokens, arrays = builder.staged(batch, pages)
        tokens, arrays = tokens.view(3, batch), arrays.view(4, batch, pages)
        ids, positions, meta = engine.runner.prepare(chunks)
        n, width = sum(rows), meta.block_tables.shape[1]
        assert torch.equal(tokens[0, :n], ids) and torch.equal(tokens[1, :n], positions)
        assert torch.equal(tokens[2, :n], meta.slot_mapping)
        assert (tokens[2, n:] == -1).all() and (arrays[2, n:] == 0).all()  # padding rows: no store, no keys
        assert (arrays[2, :n, width:] == 0).all()
        chunk_of_row = torch.repeat_interleave(torch.arange(len(chunks)), torch.tensor(rows))
        valid = meta.block_tables[chunk_of_row] >= 0
        assert torch.equal(arrays[0, :n, :width][valid], meta.block_tables[chunk_of_row][valid])
        starts = meta.page_starts[chunk_of_row]
        assert torch.equal(arrays[1, :n, :width], starts)
        # each row sees the keys up to its own position: the extend kernel's causal mask
        visible = torch.minimum((positions[:, None] + 1 - starts).clamp(min=0), meta.page_lens[chunk_of_row])
        assert torch.equal(arrays[2, :n, :width], visible.to(torch.int32))
        assert has_shift == (meta.page_shifts is not None)
        if has_shift:
            assert torch.equal(arrays[3, :n, :width], meta.page_shifts[chunk_of_row])
        steps.append((len(chunks), max(rows), has_shift))

    graph_steps(engine, prompts, compare)
    assert len(steps) >= GREEDY.max_tokens  # 40 tokens cross page boundaries of every prompt
    assert max(s[0] for s in steps) == len(prompts) and max(s[1] for s in steps) > 1  # extend rows too
    assert any(s[2] for s in steps) and any(not s[2] for s in steps)


@pytest.fixture(scope="module")
def cuda_tiny(tmp_path_factory):
    # head_dim 32: the Triton decode kernel needs >= 32 for shifted (segment) pages
    path = make_tiny_model_dir(tmp_path_factory.mktemp("graphs") / "qwen2", "qwen2", seed=5,
                               hidden_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=32)
    return load_model(path, device="cuda", dtype=torch.float32)


def cuda_engine(loaded, *, cuda_graphs: bool, decode_burst: int = 1, decode_kernels: str | None = None,
                ) -> LLMEngine:
    config = EngineConfig(device="cuda", num_pages=256, max_num_seqs=16, max_model_len=2048,
                          cuda_graphs=cuda_graphs, decode_burst=decode_burst, decode_kernels=decode_kernels)
    return LLMEngine(loaded, config)


def prompts_for(engine: LLMEngine, count: int):
    segment = engine.encode_segment(engine.tokenizer.encode("def get(self, key):\n    return self.items"))
    texts = ["import os\n", "class Cache:\n    def put(self, key, value):\n", "x", "for (let i = 0;"]
    prompts = [engine.encode_prompt(texts[i % len(texts)] * (1 + 4 * i)) for i in range(count)]
    prompts.insert(1, [engine.encode_prompt("x = 1\n"), segment, engine.tokenizer.encode("\ny = get(")])
    return prompts


@pytest.mark.gpu
@pytest.mark.parametrize("count", [1, 3, 11])  # + 1 prompt with a segment
def test_graph_decode_generates_what_eager_decode_generates(cuda_tiny, count):
    outputs = {}
    for graphs in (False, True):
        engine = cuda_engine(cuda_tiny, cuda_graphs=graphs)
        outputs[graphs] = [o.token_ids for o in engine.generate(prompts_for(engine, count), GREEDY)]
        if graphs:
            assert engine.runner.decode_graphs.num_graphs >= 1
    assert outputs[True] == outputs[False]


@pytest.mark.gpu
def test_every_decode_kernel_set_generates_the_same_tokens(cuda_tiny):
    outputs = {}
    for kernels in DECODE_KERNELS:
        engine = cuda_engine(cuda_tiny, cuda_graphs=True, decode_burst=4, decode_kernels=kernels)
        assert engine.runner.model.decode_kernels == kernels
        outputs[kernels] = [o.token_ids for o in engine.generate(prompts_for(engine, 3), GREEDY)]
    assert outputs["triton"] == outputs["cublas"] and outputs["triton_pdl"] == outputs["cublas"]


@pytest.mark.gpu
def test_graph_replay_hidden_states_equal_eager_forward(cuda_tiny):
    engine = cuda_engine(cuda_tiny, cuda_graphs=True)
    graphs = engine.runner.decode_graphs
    compared = []

    def compare(chunks):
        if not graphs.supports(chunks):
            return
        replayed = graphs.run(chunks)[0].clone()  # stores the step's K/V, as the eager pass below does
        ids, positions, meta = engine.runner.prepare(chunks)
        with torch.inference_mode():
            eager = engine.runner.model(ids, positions, meta, engine.runner.kv_caches)  # (S, hidden)
        error = float((replayed - eager).norm() / eager.norm())
        assert error <= 1e-5, error
        compared.append(len(chunks))

    graph_steps(engine, prompts_for(engine, 5), compare)
    assert len(compared) >= GREEDY.max_tokens - 1 and max(compared) == 6


@pytest.mark.gpu
@pytest.mark.parametrize("graphs", [True, False])
def test_decode_bursts_generate_what_single_steps_generate(cuda_tiny, graphs):
    """K=4 bursts (one graph per burst, argmax fed back on the device) against K=1, with
    requests finishing at different steps of a burst and a stop token mid-burst."""
    outputs = {}
    for burst in (1, 4):
        engine = cuda_engine(cuda_tiny, cuda_graphs=graphs, decode_burst=burst)
        prompts = prompts_for(engine, 6)
        ids = [engine.add_request(p, SamplingParams(max_tokens=9 + 5 * i, ignore_eos=True))
               for i, p in enumerate(prompts)]
        finals = {}
        while engine.has_unfinished():
            finals.update((o.request_id, o.token_ids) for o in engine.step() if o.finished)
        outputs[burst] = [finals[i] for i in ids]
        stop = outputs[burst][0][6]
        [stopped] = engine.generate([prompts[0]], SamplingParams(max_tokens=40, stop_token_ids=[stop]))
        outputs[burst].append(stopped.token_ids)
        assert (engine.stats().decode_bursts > 0) == (burst > 1)
        engine.block_manager.check_invariants(engine.scheduler.holders())
        if graphs:
            assert engine.runner.decode_graphs.num_graphs >= 1
    assert outputs[4] == outputs[1]


@pytest.mark.gpu
def test_burst_graphs_survive_their_buffers_growing(cuda_tiny):
    """One short stream, then six longer ones at once: the burst buffers grow (graphs captured on
    the old ones are dropped) and every token still equals single steps'."""
    outputs = {}
    for burst in (1, 4):
        engine = cuda_engine(cuda_tiny, cuda_graphs=True, decode_burst=burst)
        prompts = prompts_for(engine, 6)
        [alone] = engine.generate([prompts[2]], SamplingParams(max_tokens=11, ignore_eos=True))
        many = engine.generate(prompts, SamplingParams(max_tokens=14, ignore_eos=True))
        outputs[burst] = [alone.token_ids] + [o.token_ids for o in many]
    assert outputs[4] == outputs[1]


@pytest.mark.gpu
def test_a_prefill_launches_the_first_burst_only_on_a_captured_graph(cuda_tiny):
    """Behind a prefill the first burst is launched before its first token is read, but never at the
    price of a graph capture (tens of ms before the first token): the first request of a shape
    starts with a burst of K = 4 and captures the graphs of bursts ahead while decoding; the next
    one of that shape starts with a burst launched ahead (A = 2 steps) right behind its prefill."""
    engine = cuda_engine(cuda_tiny, cuda_graphs=True, decode_burst=4)
    prompt = prompts_for(engine, 1)[0]
    params = SamplingParams(max_tokens=12, ignore_eos=True)
    runs = []
    for _ in range(2):
        outputs = list(engine.stream(prompt, params))
        runs.append(([len(o.new_token_ids) for o in outputs if o.new_token_ids], outputs[-1].token_ids))
    assert runs[0][0] == [1, 4, 2, 2, 2, 1] and runs[1][0] == [1, 2, 2, 2, 2, 2, 1]
    assert runs[0][1] == runs[1][1] == engine.generate([prompt], params)[0].token_ids


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_reading_a_burst_does_not_wait_for_work_queued_after_it():
    """A burst launched ahead is queued behind the running one: reading the running burst's tokens
    must wait for that burst alone, or the host's work between bursts would never overlap the GPU."""
    tokens = torch.arange(12, device="cuda").view(3, 4)
    launched = LaunchedBurst.of(tokens)
    torch.cuda._sleep(2_000_000_000)  # ~1 s of GPU clock cycles, standing in for a burst ahead
    assert launched.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert not torch.cuda.current_stream().query()  # the work queued after it still runs
    torch.cuda.synchronize()


def test_reading_a_burst_on_the_cpu_is_reading_its_tokens():
    launched = LaunchedBurst.of(torch.tensor([[5, 6]]))
    assert launched.ready is None and launched.tolist() == [[5, 6]]
