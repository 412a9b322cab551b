"""`codepager generate` on a tiny random checkpoint: once through a real subprocess (JSON), the rest
in-process through the same entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from codepager.cli.main import main
from codepager.model.loader import load_model
from codepager.model.testing import make_tiny_model_dir

PROMPT = "def add(a, b):"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("generate") / "qwen2", "qwen2", seed=5)


@pytest.fixture(scope="module")
def json_result(model_dir):
    done = subprocess.run(
        [sys.executable, "-m", "codepager", "generate", "--model", str(model_dir), "--prompt", PROMPT,
         "--max-tokens", "12", "--ignore-eos", "--device", "cpu", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_generate_json_is_greedy_and_reports_tokens(model_dir, json_result):
    import transformers

    tokenizer = load_model(model_dir).tokenizer
    ids = tokenizer.encode(PROMPT)
    hf = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        out = hf.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False, eos_token_id=None,
                          pad_token_id=0)
    expected = out[0, len(ids):].tolist()
    assert json_result["token_ids"] == expected
    assert json_result["text"] == tokenizer.decode(expected, skip_special_tokens=True)
    assert json_result["finish_reason"] == "length"
    assert json_result["prompt_tokens"] == len(ids) and json_result["completion_tokens"] == 12
    assert set(json_result["timings_ms"]) == {"load", "first_token", "total"}


def test_generate_streams_the_same_text(model_dir, json_result, capsys):
    status = main(["generate", "--model", str(model_dir), "--prompt", PROMPT, "--max-tokens", "12",
                   "--ignore-eos", "--device", "cpu"])
    assert status == 0
    assert capsys.readouterr().out == json_result["text"] + "\n"


def test_generate_bad_input_gives_one_line_errors(model_dir, tmp_path, capsys):
    assert main(["generate", "--model", str(model_dir), "--prompt", "x " * 3000, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "more than the context" in err
    assert main(["generate", "--model", str(tmp_path / "nope"), "--prompt", "x", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not found" in err
