"""Cut a raw model continuation into the completion an editor shows.

- single- vs multi-line from the cursor's position: at a blank line that opens a block body (after
  `:` in Python, `{` elsewhere, or an empty body found by the syntax tree) the completion may span
  the block; anywhere else it is one statement (more lines only while brackets it opened are open);
- a multi-line completion stops where the block ends (indentation back at the opener's level, or
  the brace that closes it);
- brackets stay balanced: a closer the line did not open ends the completion (it belongs to the
  suffix);
- text the suffix already holds is dropped (the end of the current line, or the next line repeated).
"""

from __future__ import annotations

from dataclasses import dataclass

OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {v: k for k, v in OPENERS.items()}


@dataclass(frozen=True, slots=True)
class CursorShape:
    multiline: bool
    indent: str  # indentation of the line the block opener is on ("" when single-line)
    brace_block: bool  # the block is closed by a brace, not by indentation


def cursor_shape(prefix: str, suffix: str, *, block_start: bool | None = None) -> CursorShape:
    """Decide single/multi-line. block_start: the syntax tree's answer, when a parser knows one."""
    line_start = prefix.rsplit("\n", 1)[-1]
    if line_start.strip():
        return CursorShape(False, "", False)
    rest_of_line = suffix.split("\n", 1)[0]
    if rest_of_line.strip():
        return CursorShape(False, "", False)
    previous = [ln for ln in prefix.split("\n")[:-1] if ln.strip()]
    if not previous:
        return CursorShape(False, "", False)
    opener = previous[-1]
    code = opener.split("#", 1)[0].rstrip() if not opener.lstrip().startswith(("//", "/*")) else ""
    indent = opener[: len(opener) - len(opener.lstrip())]
    opens = code.endswith((":", "{")) if block_start is None else block_start
    if not opens or _body_follows(suffix, indent):
        return CursorShape(False, "", False)
    return CursorShape(True, indent, code.endswith("{"))


def _body_follows(suffix: str, opener_indent: str) -> bool:
    """The block already has a body after the cursor: then complete one statement only."""
    for line in suffix.split("\n")[1:]:
        if not line.strip():
            continue
        indent = line[: len(line) - len(line.lstrip())]
        return len(indent) > len(opener_indent)
    return False


def postprocess(raw: str, prefix: str, suffix: str, *, block_start: bool | None = None,
                stop_texts: tuple[str, ...] = ()) -> str:
    text = _cut_at_stop_texts(raw, stop_texts)
    shape = cursor_shape(prefix, suffix, block_start=block_start)
    line_start = prefix.rsplit("\n", 1)[-1]
    text = _cut_multiline(text, shape) if shape.multiline else _cut_statement(text, line_start)
    text = _drop_suffix_overlap(text, suffix)
    return text.rstrip() if "\n" in text else text.rstrip("\n")


def _cut_at_stop_texts(text: str, stops: tuple[str, ...]) -> str:
    cut = len(text)
    for stop in stops:
        at = text.find(stop)
        if at >= 0:
            cut = min(cut, at)
    return text[:cut]


def _cut_statement(text: str, line_start: str) -> str:
    """One line; more lines only while brackets opened on this line stay open."""
    depth = _open_depth(line_start)
    quote: str | None = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = None
            elif ch == "\n":
                quote = None
                if depth <= 0:
                    return text[:i]
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in OPENERS:
            depth += 1
        elif ch in CLOSERS:
            depth -= 1
            if depth < 0:
                return text[:i]
        elif ch == "\n" and depth <= 0:
            return text[:i]
    return text


def _open_depth(line: str) -> int:
    depth = 0
    for ch in line:
        if ch in OPENERS:
            depth += 1
        elif ch in CLOSERS:
            depth = max(0, depth - 1)
    return depth


def _cut_multiline(text: str, shape: CursorShape) -> str:
    """Lines of the block body: stop at the first non-blank line indented at or left of the opener."""
    lines = text.split("\n")
    kept: list[str] = []
    depth = 1 if shape.brace_block else 0
    for number, line in enumerate(lines):
        if number > 0 and line.strip():
            indent = len(line) - len(line.lstrip())
            if not shape.brace_block and indent <= len(shape.indent):
                break
        if shape.brace_block:
            cut = _brace_block_end(line, depth)
            if cut is not None:
                kept.append(line[:cut])
                break
            depth += _open_depth_signed(line)
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)


def _open_depth_signed(line: str) -> int:
    return sum(1 for ch in line if ch in OPENERS) - sum(1 for ch in line if ch in CLOSERS)


def _brace_block_end(line: str, depth: int) -> int | None:
    """Index in line where the enclosing block's closing brace sits, if it does."""
    for i, ch in enumerate(line):
        if ch in OPENERS:
            depth += 1
        elif ch in CLOSERS:
            depth -= 1
            if depth <= 0:
                return len(line[:i].rstrip()) if not line[:i].strip() else i
    return None


def _drop_suffix_overlap(text: str, suffix: str) -> str:
    rest_of_line = suffix.split("\n", 1)[0]
    if rest_of_line.strip():
        # the longest tail of the completion that the rest of the line already starts with
        for size in range(min(len(text), len(rest_of_line)), 0, -1):
            if text.endswith(rest_of_line[:size]) and rest_of_line[:size].strip():
                return text[:-size]
        return text
    next_lines = [ln for ln in suffix.split("\n")[1:] if ln.strip()]
    if next_lines and text.strip() and text.strip() == next_lines[0].strip():
        return ""
    return text
