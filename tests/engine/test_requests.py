"""Request lifecycle: cancellation, stop conditions, streaming, sampling, bad input."""

from __future__ import annotations

import pytest
import torch

from codepager.engine.config import EngineConfig, SamplingParams
from codepager.errors import ConfigError, RequestError

LONG_PROMPT = "def read_config(path: str) -> dict:\n    with open(path) as handle:\n" * 6


def first_clean_substring(text: str, length: int, start: int = 3) -> tuple[int, str]:
    for i in range(start, len(text) - length):
        piece = text[i:i + length]
        if "\ufffd" not in piece and text.find(piece) == i:
            return i, piece
    raise AssertionError(f"no clean substring in {text!r}")


def test_prompt_longer_than_context_is_a_request_error(make_engine):
    engine = make_engine(max_model_len=32)
    with pytest.raises(RequestError, match="more than the context of 32"):
        engine.add_request(list(range(1, 40)))
    with pytest.raises(RequestError, match="empty prompt"):
        engine.add_request([])
    with pytest.raises(RequestError, match="outside the vocabulary"):
        engine.add_request([1, 10**6])
    assert not engine.has_unfinished()


def test_cancel_mid_prefill_frees_pages_at_once_and_stops_output(make_engine):
    engine = make_engine(max_num_batched_tokens=8)
    request_id = engine.add_request(LONG_PROMPT, SamplingParams(max_tokens=8))
    assert engine.step() == []  # first chunk of the prompt only
    assert engine.stats().free_pages < engine.stats().num_pages
    final = engine.cancel(request_id)
    assert final.finished and final.finish_reason == "cancelled" and final.token_ids == []
    assert engine.stats().free_pages == engine.stats().num_pages
    assert not engine.has_unfinished()
    assert engine.step() == []
    assert engine.cancel(request_id) is None  # a second cancel is harmless


def test_cancel_mid_decode_never_produces_another_token(make_engine):
    engine = make_engine()
    keep = engine.add_request("class Cache:", SamplingParams(max_tokens=12, ignore_eos=True))
    drop = engine.add_request("def add(a, b):", SamplingParams(max_tokens=12, ignore_eos=True))
    for _ in range(3):
        engine.step()
    dropped = engine.cancel(drop)
    seen_after_cancel = []
    while engine.has_unfinished():
        seen_after_cancel += [out.request_id for out in engine.step()]
    assert drop not in seen_after_cancel and keep in seen_after_cancel
    assert 0 < len(dropped.token_ids) < 12
    assert engine.stats().free_pages == engine.stats().num_pages


def test_cancel_of_an_unknown_id_is_harmless(make_engine):
    engine = make_engine()
    assert engine.cancel("no-such-request") is None
    [out] = engine.generate(["def add(a, b):"], SamplingParams(max_tokens=3, ignore_eos=True))
    assert len(out.token_ids) == 3


def test_stop_token_ids_end_generation_and_are_not_text(make_engine):
    engine = make_engine()
    [free] = engine.generate(["class Cache:"], SamplingParams(max_tokens=20, ignore_eos=True))
    stop_token = free.token_ids[4]
    cut = free.token_ids.index(stop_token) + 1
    [stopped] = engine.generate(["class Cache:"], SamplingParams(max_tokens=20, stop_token_ids=[stop_token]))
    assert stopped.token_ids == free.token_ids[:cut] and stopped.finish_reason == "stop"
    assert stopped.text == engine.tokenizer.decode(free.token_ids[:cut - 1], skip_special_tokens=True)


def test_stop_string_cuts_text_and_streamed_deltas_add_up(make_engine):
    engine = make_engine()
    [free] = engine.generate(["def add(a, b):"], SamplingParams(max_tokens=24, ignore_eos=True))
    index, stop = first_clean_substring(free.text, 2)
    params = SamplingParams(max_tokens=24, ignore_eos=True, stop=[stop])
    deltas = list(engine.stream("def add(a, b):", params))
    final = deltas[-1]
    assert final.finished and final.finish_reason == "stop"
    assert final.text == free.text[:index]
    assert "".join(d.new_text for d in deltas) == final.text
    assert sum((d.new_token_ids for d in deltas), []) == final.token_ids
    assert len(final.token_ids) < 24


def test_seeded_sampling_is_reproducible(make_engine):
    engine = make_engine()
    params = dict(max_tokens=16, temperature=1.5, ignore_eos=True)
    a, b = engine.generate(["x = "] * 2, SamplingParams(seed=7, **params))
    [c] = engine.generate(["x = "], SamplingParams(seed=8, **params))
    assert a.token_ids == b.token_ids != c.token_ids
    [greedy] = engine.generate(["x = "], SamplingParams(max_tokens=16, ignore_eos=True))
    [narrow] = engine.generate(["x = "], SamplingParams(seed=1, top_p=1e-6, **params))
    assert narrow.token_ids == greedy.token_ids  # top-p keeps only the most likely token


def test_settings_reject_unknown_and_invalid_values():
    with pytest.raises(ConfigError, match="unknown EngineConfig setting.*page_count"):
        EngineConfig.from_dict({"page_count": 4})
    assert EngineConfig.from_dict({"num_pages": 4}).num_pages == 4
    with pytest.raises(ConfigError, match="max_num_seqs"):
        EngineConfig(max_num_seqs=0)
    with pytest.raises(ConfigError, match="top_p"):
        SamplingParams(top_p=0)
    with pytest.raises(ConfigError, match="unknown SamplingParams"):
        SamplingParams.from_dict({"temp": 1})


def test_cpu_threads_setting_sets_torch_threads_and_rejects_zero(make_engine):
    with pytest.raises(ConfigError, match="cpu_threads"):
        EngineConfig(cpu_threads=0)
    before = torch.get_num_threads()
    try:
        engine = make_engine(cpu_threads=1)
        assert torch.get_num_threads() == 1
        [out] = engine.generate(["x = "], SamplingParams(max_tokens=3))
        assert len(out.token_ids) == 3
    finally:
        torch.set_num_threads(before)
