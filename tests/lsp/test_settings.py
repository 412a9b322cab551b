from __future__ import annotations

import pytest

from codepager.errors import ConfigError
from codepager.lsp.settings import ServerSettings, apply_options


def test_defaults_and_camel_case_round_trip():
    settings = ServerSettings()
    assert settings.to_dict() == {"modelPath": None, "device": None, "contextBudget": 1536, "maxTokens": 64,
                                  "debounceMs": 75, "cpuThreads": None}


def test_section_and_flat_objects():
    new, problems = apply_options(ServerSettings(), {"codepager": {"maxTokens": 16, "device": "cuda:1"}})
    assert problems == [] and new.max_tokens == 16 and new.device == "cuda:1"
    new, problems = apply_options(new, {"debounceMs": 0, "device": "auto", "modelPath": ""})
    assert problems == [] and new.debounce_ms == 0 and new.device is None and new.model_path is None
    assert apply_options(new, None) == (new, [])
    assert apply_options(new, {"codepager": None}) == (new, [])


def test_bad_values_are_reported_and_the_previous_value_kept():
    start = ServerSettings(max_tokens=8)
    new, problems = apply_options(start, {"codepager": {"maxTokens": "many", "contextBudget": -1,
                                                        "device": "tpu", "debounceMs": True, "speed": 3,
                                                        "modelPath": "/models/x"}})
    assert new == ServerSettings(max_tokens=8, model_path="/models/x")
    assert len(problems) == 5
    assert any("maxTokens" in p and "keeping 8" in p for p in problems)
    assert any("unknown codepager setting 'speed'" in p for p in problems)
    _same, problems = apply_options(start, ["not", "an", "object"])
    assert problems == ["codepager settings must be an object, got list"]


def test_changed_fields():
    changed = ServerSettings().changed_fields(ServerSettings(device="cpu", max_tokens=3))
    assert changed == {"device", "max_tokens"}


def test_construction_validates():
    with pytest.raises(ConfigError, match="maxTokens"):
        ServerSettings(max_tokens=0)


def test_cpu_threads_is_null_or_a_positive_integer():
    new, problems = apply_options(ServerSettings(), {"codepager": {"cpuThreads": 1}})
    assert problems == [] and new.cpu_threads == 1
    for bad in (0, 257, 1.5, True, "2"):
        same, problems = apply_options(new, {"cpuThreads": bad})
        assert same.cpu_threads == 1 and len(problems) == 1 and "cpuThreads" in problems[0]
    new, problems = apply_options(new, {"cpuThreads": None})
    assert problems == [] and new.cpu_threads is None
    with pytest.raises(ConfigError, match="cpuThreads"):
        ServerSettings(cpu_threads=0)
