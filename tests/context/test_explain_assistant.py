"""Assistant.explain and `codepager explain` end to end: facts, history, buffers and streamed prose."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import git
import pytest

from codepager.assistant import Assistant
from codepager.assistant_config import AssistantConfig
from codepager.cli.main import main
from codepager.engine.config import EngineConfig
from codepager.indexer.config import IndexConfig
from codepager.model.testing import make_tiny_model_dir

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "repo_sample"
CHATML_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                   "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
CHECKOUT = "shop/checkout.py"


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # seed 7: greedy output that decodes to text in several pieces
    model = make_tiny_model_dir(tmp_path_factory.mktemp("chat"), "qwen2", seed=7)
    config = json.loads((model / "tokenizer_config.json").read_text())
    config["chat_template"] = CHATML_TEMPLATE
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    return model


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "shop-repo"
    shutil.copytree(SAMPLE, root)
    repo = git.Repo.init(root, initial_branch="main")
    repo.git.add(A=True)
    actor = git.Actor("Ada", "ada@example.com")
    repo.index.commit("initial shop", author=actor, committer=actor)
    return root


def open_assistant(repo: Path, model_dir: Path) -> Assistant:
    config = AssistantConfig(model_dir=model_dir, max_tokens=4, engine=EngineConfig(num_pages=300),
                             index=IndexConfig(cache_dir=repo.parent / "cache"))
    return Assistant.open(repo, config)


def test_assistant_explain_streams_prose_and_stops_on_cancel(repo: Path, chat_model: Path) -> None:
    express = "\n\ndef express(cart, inventory):\n    return checkout(cart, inventory)\n"
    text = (repo / CHECKOUT).read_text() + express
    line = text.count("\n") - 1  # "    return checkout(cart, inventory)"
    streamed: list[str] = []
    with open_assistant(repo, chat_model) as assistant:
        assistant.set_buffer(CHECKOUT, text)
        explanation = assistant.explain(CHECKOUT, line, 12, text=text, on_text=streamed.append,
                                        should_cancel=lambda: len(streamed) >= 3)
        assert explanation.name == "checkout" and explanation.definition.path == CHECKOUT
        assert [c.subject for c in explanation.history] == ["initial shop"]
        assert explanation.callers == []  # the only call is on the cursor's own line, which is left out
        assert {c.name for c in explanation.calls} >= {"reserve_items", "format_price", "total_price"}
        assert len(streamed) == 3 and "".join(streamed).strip() == explanation.prose
        assert explanation.markdown().rstrip().endswith(explanation.prose)
        stats = assistant.engine.stats()
        assert stats.running == stats.waiting == 0
        assert assistant.explain(CHECKOUT, line, 12, text=text, on_text=pytest.fail,
                                 should_cancel=lambda: True).prose == ""


def test_cli_explain_with_and_without_a_chat_model(repo: Path, chat_model: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    position = f"{repo / 'shop/money.py'}:25"
    common = [position, "--repo", str(repo), "--cache-dir", str(tmp_path / "cache")]
    assert main(["explain", *common]) == 0
    plain = capsys.readouterr().out
    assert "**Called from** 2 place(s)" in plain and "initial shop" in plain and "---" not in plain
    with_model = ["--model", str(chat_model), "--max-tokens", "12", "--device", "cpu"]
    assert main(["explain", *common, *with_model]) == 0
    streamed = capsys.readouterr().out
    assert streamed.startswith(plain) and "\n---\n\n" in streamed[len(plain):]
    assert main(["explain", *common, *with_model, "--json", "--no-history"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["prose"] and out["history"] == [] and out["prose"] in out["markdown"]
