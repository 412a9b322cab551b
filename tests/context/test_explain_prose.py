"""Model-written prose for explain: chat templates, streaming, cancellation, silence without a template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codepager.context.chat_template import ChatTemplate, load_chat_template, render_chatml
from codepager.context.explain import Explanation, Location
from codepager.context.explain_prose import prose_prompt, write_prose
from codepager.engine.config import EngineConfig
from codepager.engine.llm_engine import LLMEngine
from codepager.model.testing import make_tiny_model_dir

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "codepager" / "default_model"

# Qwen2.5's template, trimmed of tools: what real instruct checkpoints ship
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is `add`?"}]


def add_chat_template(model_dir: Path, template: object) -> Path:
    path = model_dir / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["chat_template"] = template
    path.write_text(json.dumps(config))
    return model_dir


@pytest.fixture(scope="module")
def chat_engine(tmp_path_factory: pytest.TempPathFactory) -> LLMEngine:
    # seed 7: a random model whose greedy answer decodes to text in several pieces
    model_dir = add_chat_template(make_tiny_model_dir(tmp_path_factory.mktemp("chat"), "qwen2", seed=7),
                                  CHATML_TEMPLATE)
    return LLMEngine.from_model_dir(model_dir, EngineConfig(num_pages=200))


def sample_explanation() -> Explanation:
    return Explanation(name="format_price", kind="function", definition=Location("shop/money.py", 25, 5),
                       signature="def format_price(amount: Money) -> str:", end_line=27,
                       docstring="Render an amount as '12.34 EUR'.",
                       code='def format_price(amount: Money) -> str:\n    return f"{amount.cents}"')


def test_jinja_chatml_template_renders_like_chatml() -> None:
    template = ChatTemplate(CHATML_TEMPLATE)
    assert template.render(MESSAGES) == render_chatml(MESSAGES)
    assert template.render(MESSAGES[1:]).startswith("<|im_start|>system\nYou are a helpful assistant.")
    assert not template.render(MESSAGES, add_generation_prompt=False).endswith("assistant\n")
    assert template.end_of_turn == "<|im_end|>"


def test_template_locations_and_models_without_one(tmp_path: Path) -> None:
    assert load_chat_template(DEFAULT_MODEL) is None  # the embedded completion model
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"eos_token": {"content": "</s>"}, "chat_template": [{"name": "tool_use", "template": "T"},
                                                             {"name": "default", "template": "D"}]}))
    assert load_chat_template(tmp_path) == ChatTemplate("D", "", "</s>")
    (tmp_path / "tokenizer_config.json").write_text("{}")
    assert load_chat_template(tmp_path) is None
    (tmp_path / "chat_template.jinja").write_text("{{ messages[0]['content'] }}")
    assert load_chat_template(tmp_path).render(MESSAGES) == "Be brief."


def test_unrenderable_template_falls_back_to_chatml_only_when_it_is_chatml() -> None:
    broken_chatml = "{% generation %}<|im_start|>{{ x }}"
    assert ChatTemplate(broken_chatml).render(MESSAGES) == render_chatml(MESSAGES)
    with pytest.raises(ValueError, match="chat template"):
        ChatTemplate("{% generation %}[INST]").render(MESSAGES)


def test_prose_is_generated_and_streamed(chat_engine: LLMEngine) -> None:
    streamed: list[str] = []
    prose = write_prose(chat_engine, sample_explanation(), max_tokens=16, on_text=streamed.append)
    assert prose and len(streamed) > 1
    assert "".join(streamed).strip() == prose
    stats = chat_engine.stats()
    assert stats.running == stats.waiting == 0


def test_cancel_stops_generation_and_frees_the_engine(chat_engine: LLMEngine) -> None:
    full = write_prose(chat_engine, sample_explanation(), max_tokens=16)
    streamed: list[str] = []
    prose = write_prose(chat_engine, sample_explanation(), max_tokens=16, on_text=streamed.append,
                        should_cancel=lambda: len(streamed) >= 2)
    assert len(streamed) == 2 and prose == "".join(streamed).strip()
    assert len(prose) < len(full)
    stats = chat_engine.stats()
    assert stats.running == stats.waiting == 0
    assert write_prose(chat_engine, sample_explanation(), should_cancel=lambda: True) == ""


def test_long_source_is_shortened_to_fit_the_context(chat_engine: LLMEngine) -> None:
    long = sample_explanation()
    long.code = "x = 1\n" * 5000
    template = ChatTemplate(CHATML_TEMPLATE)
    ids = prose_prompt(chat_engine, template, long, max_tokens=64)
    assert ids is not None and len(ids) <= chat_engine.max_model_len - 64
    assert len(ids) > len(prose_prompt(chat_engine, template, sample_explanation(), max_tokens=64)) + 100


def test_no_template_no_prose(tmp_path: Path) -> None:
    model_dir = make_tiny_model_dir(tmp_path / "plain", "qwen2")
    engine = LLMEngine.from_model_dir(model_dir, EngineConfig(num_pages=50))
    explanation = sample_explanation()
    assert write_prose(engine, explanation, on_text=pytest.fail) == ""
    assert "---" not in explanation.markdown()
