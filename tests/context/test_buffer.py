from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codepager.context.buffer import cut_buffer, position_to_offset, region_key
from codepager.context.config import ContextConfig
from codepager.errors import ConfigError

TEXT = "".join(f"value_{i} = compute({i})\n" for i in range(200))


def test_position_to_offset_and_range_errors() -> None:
    assert position_to_offset("ab\ncd", 1, 2) == 5
    assert position_to_offset("ab\ncd", 0, 0) == 0
    with pytest.raises(ValueError, match="line 3"):
        position_to_offset("ab\ncd", 2, 0)
    with pytest.raises(ValueError, match="column 4"):
        position_to_offset("ab\ncd", 1, 3)


def test_prefix_start_stays_put_while_typing() -> None:
    config = ContextConfig(prefix_tokens=300, prefix_anchor_lines=16)
    offset = position_to_offset(TEXT, 150, 0)
    first = cut_buffer(TEXT, offset, config)
    typed = TEXT[:offset] + "result = val" + TEXT[offset:]
    second = cut_buffer(typed, offset + len("result = val"), config)
    assert first.prefix_start_line == second.prefix_start_line
    assert first.prefix_start_line % 16 == 0
    assert second.prefix.startswith(first.prefix)
    assert len(first.prefix) <= 300 * config.chars_per_token


def test_suffix_is_cut_at_a_line_end() -> None:
    cut = cut_buffer(TEXT, position_to_offset(TEXT, 10, 0), ContextConfig(suffix_tokens=20))
    assert cut.suffix.endswith("\n") and len(cut.suffix) <= 60 and cut.cursor_line == 10


def test_region_is_the_enclosing_top_level_definition() -> None:
    text = "import os\n\ndef first():\n    a = 1\n\n    b = 2\n# note\nclass Second:\n    x = 1\n"
    assert region_key(text, text.index("b = 2")) == "def first():"
    assert region_key(text, text.index("x = 1")) == "class Second:"
    assert region_key(text, 0) == ""


def test_config_rejects_unknown_and_bad_settings() -> None:
    with pytest.raises(ConfigError, match="unknown context setting"):
        ContextConfig.from_dict({"budget": 3})
    with pytest.raises(ConfigError, match="retrieval"):
        ContextConfig(retrieval="tfidf")


def _cut_by_line_list(text: str, offset: int, config: ContextConfig) -> tuple[str, int]:
    """The prefix rule spelled out over a list of every line start (the plain, slow way); typed
    indentation before the cursor stays out of the prefix."""
    line_start = text.rfind("\n", 0, offset) + 1
    if text[line_start:offset] and not text[line_start:offset].strip(" \t"):
        offset = line_start
    before = text[:offset]
    prefix_chars = int(config.prefix_tokens * config.chars_per_token)
    starts = [0] + [i + 1 for i, ch in enumerate(before) if ch == "\n"]
    cursor_line, anchor = len(starts) - 1, config.prefix_anchor_lines
    start_line = (cursor_line // anchor) * anchor
    while start_line - anchor >= 0 and len(before) - starts[start_line - anchor] <= prefix_chars:
        start_line -= anchor
    prefix = before[starts[start_line]:]
    if len(prefix) > prefix_chars:
        cut = before.find("\n", len(before) - prefix_chars)
        prefix = before[cut + 1:] if 0 <= cut < offset else before[-prefix_chars:]
        start_line = cursor_line - prefix.count("\n")
    return prefix, start_line


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.text(alphabet="ab \t", max_size=30), max_size=80), newline_at_end=st.booleans(),
       where=st.floats(0, 1), prefix_tokens=st.integers(1, 300), anchor=st.integers(1, 40))
def test_prefix_cut_matches_the_line_list_rule(lines: list[str], newline_at_end: bool, where: float,
                                               prefix_tokens: int, anchor: int) -> None:
    text = "\n".join(lines) + ("\n" if newline_at_end else "")
    offset = int(where * len(text))
    config = ContextConfig(prefix_tokens=prefix_tokens, prefix_anchor_lines=anchor)
    cut = cut_buffer(text, offset, config)
    assert (cut.prefix, cut.prefix_start_line) == _cut_by_line_list(text, offset, config)


def test_leading_indent_and_strip_indent() -> None:
    from codepager.context.buffer import leading_indent, strip_indent

    text = "def f():\n    \n    x = 1\n"
    assert leading_indent(text, text.index("    \n") + 4) == "    "
    assert leading_indent(text, text.index("x = 1") + 1) == ""  # code before the cursor
    assert leading_indent(text, text.index("    \n")) == ""  # column 0: nothing typed
    assert strip_indent("    return x", "    ") == "return x"
    assert strip_indent("        return x", "    ") == "    return x"  # deeper than typed: keep the rest
    assert strip_indent("  return x", "    ") == "return x"  # shallower: drop what there is
    assert strip_indent("\n    y", "    ") == "\n    y"
