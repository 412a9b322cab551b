"""A model's chat template (Hugging Face `chat_template`, Jinja) rendered without transformers.

Found in tokenizer_config.json (`chat_template`: a string, or a list of named templates), else in
chat_template.jinja / chat_template.json beside it. Rendered in jinja2's sandbox with the globals
Hugging Face templates use; a ChatML template (`<|im_start|>`) that jinja2 cannot render is
written out directly. A model without a template is a completion model: no chat, no prose."""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHATML_START = "<|im_start|>"
CHATML_END = "<|im_end|>"


@dataclass(frozen=True, slots=True)
class ChatTemplate:
    source: str
    bos_token: str = ""
    eos_token: str = ""

    @property
    def is_chatml(self) -> bool:
        return CHATML_START in self.source

    @property
    def end_of_turn(self) -> str | None:
        """The text that closes the assistant's turn, where the template shows one."""
        return CHATML_END if self.is_chatml else (self.eos_token or None)

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        try:
            return _render_jinja(self, messages, add_generation_prompt)
        except Exception as err:  # jinja2 missing, or a template feature it lacks
            if not self.is_chatml:
                raise ValueError(f"cannot render the model's chat template: {err}") from err
            log.info("chat template not renderable by jinja2 (%s); writing ChatML directly", err)
            return render_chatml(messages, add_generation_prompt)


def render_chatml(messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    text = "".join(f"{CHATML_START}{m['role']}\n{m['content']}{CHATML_END}\n" for m in messages)
    return text + (f"{CHATML_START}assistant\n" if add_generation_prompt else "")


def _render_jinja(template: ChatTemplate, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    compiled = env.from_string(template.source)
    return compiled.render(messages=messages, add_generation_prompt=add_generation_prompt,
                           bos_token=template.bos_token, eos_token=template.eos_token, tools=None)


def load_chat_template(model_dir: str | Path) -> ChatTemplate | None:
    """The directory's chat template, or None when it has none (a completion-only model)."""
    directory = Path(model_dir)
    config = _read_json(directory / "tokenizer_config.json")
    source = _pick(config.get("chat_template"))
    if source is None and (directory / "chat_template.jinja").is_file():
        source = (directory / "chat_template.jinja").read_text(encoding="utf-8")
    if source is None:
        source = _pick(_read_json(directory / "chat_template.json").get("chat_template"))
    if not source or not source.strip():
        return None
    return ChatTemplate(source, _token_text(config.get("bos_token")), _token_text(config.get("eos_token")))


@functools.lru_cache(maxsize=8)
def cached_chat_template(model_dir: str) -> ChatTemplate | None:
    return load_chat_template(model_dir)


def _pick(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        chosen = named.get("default") or next(iter(named.values()), None)
        return chosen if isinstance(chosen, str) else None
    return None


def _token_text(entry: Any) -> str:
    if isinstance(entry, dict):
        entry = entry.get("content")
    return entry if isinstance(entry, str) else ""


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
