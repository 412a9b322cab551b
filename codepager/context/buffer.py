"""The edited buffer around the cursor: prefix and suffix cut at lines that stay put while typing.

The prefix starts at a line that is a multiple of `prefix_anchor_lines` (the latest such line that
keeps it within its budget), so that typing on one line leaves the start of the prefix — and so
the tokens before the edit point — unchanged, and the engine's prefix cache keeps hitting. The
suffix ends at a line end within its budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codepager.context.config import ContextConfig


@dataclass(frozen=True, slots=True)
class BufferCut:
    prefix: str
    suffix: str
    cursor_line: int  # 0-based line of the cursor in the buffer
    prefix_start_line: int
    # whitespace typed between the line start and the cursor, left out of the prefix: the model
    # writes a line's indentation itself (FIM training cuts middles at line starts, and a prefix
    # ending in "\n" + spaces tokenizes unlike "\n" then spaces + code); the caller strips it from
    # the completion
    indent: str = ""


def position_to_offset(text: str, line: int, column: int) -> int:
    """0-based line and column (in characters) -> index into text; ValueError when out of range."""
    if line < 0 or column < 0:
        raise ValueError(f"position {line + 1}:{column + 1} is out of range")
    start = 0
    for _ in range(line):
        at = text.find("\n", start)
        if at < 0:
            raise ValueError(f"line {line + 1} is past the end of the file ({text.count(chr(10)) + 1} lines)")
        start = at + 1
    end = text.find("\n", start)
    length = (len(text) if end < 0 else end) - start
    if column > length:
        raise ValueError(f"column {column + 1} is past the end of line {line + 1} ({length} characters)")
    return start + column


def leading_indent(text: str, offset: int) -> str:
    """The whitespace between the cursor's line start and the cursor, when that is all there is."""
    start = text.rfind("\n", 0, offset) + 1
    typed = text[start:offset]
    return typed if typed and not typed.strip(" \t") else ""


def strip_indent(completion: str, indent: str) -> str:
    """The completion without the part of its leading whitespace the user had already typed."""
    if not indent:
        return completion
    leading = len(completion) - len(completion.lstrip(" \t"))
    return completion[min(leading, len(indent)):]


def cut_buffer(text: str, offset: int, config: ContextConfig) -> BufferCut:
    indent = leading_indent(text, offset)
    before, after = text[:offset - len(indent)], text[offset:]
    cursor_line = before.count("\n")
    prefix_chars = int(config.prefix_tokens * config.chars_per_token)
    anchor = config.prefix_anchor_lines
    # Only the lines within the prefix budget are looked at (by rfind from the cursor), so the cost
    # does not grow with the file: this runs on every keystroke.
    start_line = (cursor_line // anchor) * anchor
    start = _line_start_back(before, before.rfind("\n") + 1, cursor_line - start_line)
    # walk back by whole anchors while the prefix fits
    while start_line - anchor >= 0:
        earlier = _line_start_back(before, start, anchor)
        if len(before) - earlier > prefix_chars:
            break
        start_line, start = start_line - anchor, earlier
    prefix = before[start:]
    if len(prefix) > prefix_chars:  # even one anchor block is too long: keep whole lines from the end
        cut = before.find("\n", len(before) - prefix_chars)
        prefix = before[cut + 1:] if 0 <= cut < len(before) else before[-prefix_chars:]
        start_line = cursor_line - prefix.count("\n")
    suffix_chars = int(config.suffix_tokens * config.chars_per_token)
    suffix = after
    if len(after) > suffix_chars:
        end = after.rfind("\n", 0, suffix_chars)
        suffix = after[: end + 1] if end >= 0 else after[:suffix_chars]
    return BufferCut(prefix, suffix, cursor_line, start_line, indent)


def _line_start_back(text: str, line_start: int, lines: int) -> int:
    """The start of the line `lines` lines above the one starting at line_start (0 past the top)."""
    for _ in range(lines):
        if line_start == 0:
            return 0
        line_start = text.rfind("\n", 0, line_start - 1) + 1
    return line_start


def region_key(text: str, offset: int) -> str:
    """The top-level definition the cursor is in: the last line before it that starts at column 0
    and is not blank, a comment or a closing bracket ("" at the top of a file)."""
    before = text[:offset]
    line_start = before.rfind("\n") + 1
    for line in reversed(before[:line_start].split("\n")):
        if line and not line[0].isspace() and not line.startswith(("#", "//", "/*", "*", ")", "}", "]")):
            return line.strip()
    return ""
