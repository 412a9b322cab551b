"""A definition's own text from the index: its line span, header (signature) and docstring."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from codepager.indexer.records import OUTLINE, Definition, Segment

VALUE_KINDS = frozenset({"field", "constant", "variable"})  # one line, not a body


@dataclass(frozen=True, slots=True)
class SymbolSpan:
    start_line: int  # 0-based, inclusive: the line of the definition's name
    end_line: int  # 0-based, inclusive
    code: str  # dedented


def symbol_span(segments: Sequence[Segment], definitions: Sequence[Definition],
                definition: Definition) -> SymbolSpan | None:
    """The lines of `definition` in its file: from its name's line to the line before the next
    definition at the same or an outer indentation, within the segment that holds it (and the
    following segments a large symbol was split into). None when its segment is not indexed."""
    pieces = sorted((s for s in segments if s.kind != OUTLINE), key=lambda s: s.start_line)
    first = next((i for i, s in enumerate(pieces) if s.id == definition.segment_id), None)
    if first is None:
        first = next((i for i, s in enumerate(pieces) if s.start_line <= definition.line <= s.end_line), None)
    if first is None:
        return None
    qualified = definition.qualified_name or definition.name
    last = first
    while last + 1 < len(pieces) and (pieces[last + 1].name == qualified
                                      or pieces[last + 1].name.startswith(qualified + ".")):
        last += 1
    lines: dict[int, str] = {}
    for piece in pieces[first: last + 1]:
        for offset, text in enumerate(piece.text.split("\n")):
            lines.setdefault(piece.start_line + offset, text)
    start = definition.line
    end = pieces[last].end_line
    if definition.kind in VALUE_KINDS:
        end = start
    own_indent = _indent(lines.get(start, ""))
    for other in definitions:
        if start < other.line <= end and _indent(lines.get(other.line, "")) <= own_indent:
            end = other.line - 1
    while end > start and (not lines.get(end, "").strip() or lines.get(end, "").lstrip().startswith("@")):
        end -= 1  # trailing blank lines and the next definition's decorators
    code = textwrap.dedent("\n".join(lines.get(i, "") for i in range(start, end + 1)))
    return SymbolSpan(start, end, code)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


_DOC_START = re.compile(r'^\s*[rRbBuU]?("""|\'\'\'|"|\')')


def signature_and_doc(segment_text: str, name_line: int) -> tuple[str, str]:
    """The definition's header lines (up to the ':' or '{' that opens its body) and its first
    docstring paragraph (Python docstring, else the comment block right above the header)."""
    lines = segment_text.split("\n")
    name_line = max(0, min(name_line, len(lines) - 1))
    end = name_line
    depth = 0
    while end < len(lines):
        code = lines[end]
        depth += sum(code.count(c) for c in "([") - sum(code.count(c) for c in ")]")
        stripped = code.rstrip()
        if depth <= 0 and (stripped.endswith((":", "{", ";")) or "{" in stripped or end - name_line >= 8):
            break
        end += 1
    header = [ln for ln in lines[name_line: end + 1]]
    signature = "\n".join(header).rstrip().rstrip("{").rstrip()
    doc = _python_docstring(lines[end + 1:]) or _comment_above(lines[:name_line])
    return signature, doc


def _python_docstring(body: list[str]) -> str:
    text = "\n".join(body).lstrip()
    match = _DOC_START.match(text)
    if not match:
        return ""
    quote = match.group(1)
    rest = text[match.end():]
    close = rest.find(quote)
    doc = rest if close < 0 else rest[:close]
    return doc.strip().split("\n\n", 1)[0].strip()


def _comment_above(lines: list[str]) -> str:
    found: list[str] = []
    for line in reversed(lines):
        stripped = line.strip()
        if stripped.startswith(("//", "#", "*", "/*", "///")):
            found.append(stripped.lstrip("/#* ").rstrip("*/ ").strip())
        else:
            break
    return "\n".join(reversed([f for f in found if f]))
