"""A short model-written explanation on top of the index facts, for instruct/chat models only.

The facts (the Markdown of the Explanation, without prose) and the symbol's source go into the
model's own chat template; the answer streams through `on_text` and stops as soon as
`should_cancel` says so, freeing the engine's slot. A model without a chat template (the
embedded completion model) writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from typing import TYPE_CHECKING, Any

from codepager.context.chat_template import ChatTemplate, cached_chat_template
from codepager.engine.config import SamplingParams

if TYPE_CHECKING:
    from codepager.context.explain import Explanation

PROSE_MAX_TOKENS = 256
SYSTEM_PROMPT = ("You explain code in a software repository to a developer. Answer in one short paragraph "
                 "(at most five sentences), using only the facts and source given; do not invent callers, "
                 "files or behaviour.")


def prose_messages(explanation: Explanation, code_chars: int) -> list[dict[str, str]]:
    facts = explanation.markdown().strip()
    code = explanation.code[:code_chars]
    source = f"\n\nSource of `{explanation.name}`:\n```\n{code}\n```" if code else ""
    question = f"What does `{explanation.name}` do, and how is it used in this repository?"
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Facts from the repository index:\n\n{facts}{source}\n\n{question}"}]


def prose_prompt(engine: Any, template: ChatTemplate, explanation: Explanation,
                 max_tokens: int) -> list[int] | None:
    """Token ids of the chat prompt, the source shortened (then dropped) to fit; None if even
    the facts alone do not fit the model's context."""
    budget = engine.max_model_len - max_tokens
    code_chars = len(explanation.code)
    while True:
        ids = engine.encode_prompt(template.render(prose_messages(explanation, code_chars)))
        if len(ids) <= budget:
            return ids
        if code_chars == 0:
            return None
        code_chars = code_chars // 2 if code_chars > 200 else 0


def write_prose(engine: Any, explanation: Explanation, *, max_tokens: int = PROSE_MAX_TOKENS,
                on_text: Callable[[str], None] | None = None,
                should_cancel: Callable[[], bool] | None = None) -> str:
    """Generate the prose (greedy), streaming each new piece to on_text; '' without a chat template,
    without a definition to talk about, or when cancelled before the first token."""
    template = cached_chat_template(str(engine.loaded.path))
    if template is None or explanation.definition is None:
        return ""
    if should_cancel is not None and should_cancel():
        return ""
    ids = prose_prompt(engine, template, explanation, max_tokens)
    if ids is None:
        return ""
    params = SamplingParams(max_tokens=max_tokens, **_stops(engine, template))
    pieces: list[str] = []
    with closing(engine.stream(ids, params)) as stream:
        for output in stream:
            if output.new_text:
                pieces.append(output.new_text)
                if on_text is not None:
                    on_text(output.new_text)
            if output.finished or (should_cancel is not None and should_cancel()):
                break
    return "".join(pieces).strip()


def _stops(engine: Any, template: ChatTemplate) -> dict[str, Any]:
    tokenizer = engine.tokenizer
    stop_ids = set(tokenizer.eos_token_ids)
    end = template.end_of_turn
    end_id = tokenizer.token_id(end) if end else None
    if end_id is not None:
        stop_ids.add(end_id)
    return {"stop_token_ids": sorted(stop_ids) or None, "stop": [end] if end else []}
