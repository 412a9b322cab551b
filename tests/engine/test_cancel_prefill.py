"""Cancelling during a long prefill: the stream yields after every engine step, so a caller stops
within one step and every page comes back; the CPU's default step is small."""

from __future__ import annotations

import shutil
from pathlib import Path

import git
import pytest

from codepager.assistant import Assistant
from codepager.assistant_config import AssistantConfig
from codepager.context.config import ContextConfig
from codepager.engine.config import EngineConfig, SamplingParams
from codepager.errors import ConfigError
from codepager.indexer.config import IndexConfig

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "repo_sample"
BUDGET = 16


def count_steps(engine) -> list[int]:
    """Count the engine's steps (the real step runs); returns the one-element counter."""
    counter = [0]
    step = engine.step

    def counted():
        counter[0] += 1
        return step()

    engine.step = counted
    return counter


def assert_all_pages_free(engine) -> None:
    assert not engine.has_unfinished()
    assert engine.block_manager.num_free_pages == engine.block_manager.num_pages
    engine.block_manager.check_invariants(engine.scheduler.holders())


def test_stream_yields_a_tokenless_output_per_prefill_step(make_engine):
    engine = make_engine(max_num_batched_tokens=BUDGET)
    prompt = [(7 * i) % 200 + 10 for i in range(5 * BUDGET)]
    outputs = list(engine.stream(prompt, SamplingParams(max_tokens=3, ignore_eos=True)))
    # 5 chunks: the first four compute only, the fifth samples; then two decode steps
    assert [len(o.new_token_ids) for o in outputs] == [0, 0, 0, 0, 1, 1, 1]
    assert [o.new_text for o in outputs[:4]] == [""] * 4
    assert outputs[-1].finished and not any(o.finished for o in outputs[:-1])
    assert sum((o.new_token_ids for o in outputs), []) == outputs[-1].token_ids


def test_closing_the_stream_mid_prefill_stops_within_one_step(make_engine):
    engine = make_engine(max_num_batched_tokens=BUDGET)
    steps = count_steps(engine)
    prompt = [(5 * i) % 250 + 3 for i in range(40 * BUDGET)]
    stream = engine.stream(prompt, SamplingParams(max_tokens=4))
    for seen, output in enumerate(stream, start=1):
        assert not output.new_token_ids
        if seen == 3:
            break
    stream.close()
    assert steps[0] == 3  # no step ran after the caller stopped listening
    assert engine.scheduler.tokens_computed == 3 * BUDGET < len(prompt)
    assert_all_pages_free(engine)


def test_progress_outputs_do_not_steal_other_requests_outputs(make_engine):
    engine = make_engine(max_num_batched_tokens=BUDGET)
    other = engine.add_request([11, 12, 13], SamplingParams(max_tokens=2, ignore_eos=True))
    prompt = [(3 * i) % 250 + 3 for i in range(4 * BUDGET)]
    stream = engine.stream(prompt, SamplingParams(max_tokens=2, ignore_eos=True))
    outputs = list(stream)
    assert all(o.request_id != other for o in outputs) and outputs[-1].finished
    finals = [o for o in engine.step() if o.request_id == other and o.finished]
    assert finals and len(finals[0].token_ids) == 2


def test_default_step_budget_depends_on_the_device(make_engine):
    assert make_engine().scheduler.max_num_batched_tokens == 256
    assert make_engine(max_num_batched_tokens=100).scheduler.max_num_batched_tokens == 100
    assert EngineConfig().batched_tokens_for("cuda") == 2048
    with pytest.raises(ConfigError):
        EngineConfig(max_num_batched_tokens=0)


def test_assistant_cancel_during_prefill_returns_within_one_step(tmp_path, tiny_dir):
    repo = tmp_path / "shop-repo"
    shutil.copytree(SAMPLE, repo)
    git.Repo.init(repo)
    context = ContextConfig(repo_budget_tokens=1000, max_item_tokens=600, prefix_tokens=200, suffix_tokens=60)
    config = AssistantConfig(model_dir=tiny_dir("qwen2"), max_tokens=4, context=context,
                             index=IndexConfig(cache_dir=tmp_path / "cache"),
                             engine=EngineConfig(num_pages=400, max_num_batched_tokens=BUDGET))
    checks = [0]

    def should_cancel() -> bool:
        checks[0] += 1
        return checks[0] >= 3  # flips during the prefill

    with Assistant.open(repo, config) as assistant:
        steps = count_steps(assistant.engine)
        text = (repo / "shop/checkout.py").read_text()
        line = text.count("\n", 0, text.index("receipt.append("))
        result = assistant.complete("shop/checkout.py", text, line, 4, should_cancel=should_cancel)
        assert result.cancelled and result.completion == ""
        assert result.prompt_tokens > 10 * BUDGET  # a prefill of many steps was cut short
        assert steps[0] == 2  # checked after each of two steps; the third check stopped it
        assert result.computed_tokens == 2 * BUDGET
        assert_all_pages_free(assistant.engine)
