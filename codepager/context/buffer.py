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


def cut_buffer(text: str, offset: int, config: ContextConfig) -> BufferCut:
    before, after = text[:offset], text[offset:]
    cursor_line = before.count("\n")
    prefix_chars = int(config.prefix_tokens * config.chars_per_token)
    line_starts = [0] + [i + 1 for i, ch in enumerate(before) if ch == "\n"]
    anchor = config.prefix_anchor_lines
    start_line = (cursor_line // anchor) * anchor
    # walk back by whole anchors while the prefix fits
    while start_line - anchor >= 0 and len(before) - line_starts[start_line - anchor] <= prefix_chars:
        start_line -= anchor
    prefix = before[line_starts[start_line]:]
    if len(prefix) > prefix_chars:  # even one anchor block is too long: keep whole lines from the end
        cut = before.find("\n", len(before) - prefix_chars)
        prefix = before[cut + 1:] if 0 <= cut < offset else before[-prefix_chars:]
        start_line = cursor_line - prefix.count("\n")
    suffix_chars = int(config.suffix_tokens * config.chars_per_token)
    suffix = after
    if len(after) > suffix_chars:
        end = after.rfind("\n", 0, suffix_chars)
        suffix = after[: end + 1] if end >= 0 else after[:suffix_chars]
    return BufferCut(prefix, suffix, cursor_line, start_line)


def region_key(text: str, offset: int) -> str:
    """The top-level definition the cursor is in: the last line before it that starts at column 0
    and is not blank, a comment or a closing bracket ("" at the top of a file)."""
    before = text[:offset]
    line_start = before.rfind("\n") + 1
    for line in reversed(before[:line_start].split("\n")):
        if line and not line[0].isspace() and not line.startswith(("#", "//", "/*", "*", ")", "}", "]")):
            return line.strip()
    return ""
