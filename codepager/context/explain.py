"""Explain the symbol under the cursor from the index alone: definition, signature, docstring,
references with their locations. (A later issue adds a model-written summary on top.)"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from codepager.context.buffer import position_to_offset
from codepager.context.identifiers import IDENTIFIER, KEYWORDS
from codepager.errors import RequestError
from codepager.indexer.records import Definition, Reference, Segment

MAX_REFERENCES = 50


class SymbolSource(Protocol):
    def resolve(self, path: str, name: str, line: int | None = None) -> list[Definition]: ...

    def segment(self, segment_id: str) -> Segment | None: ...

    def references_to(self, name: str) -> list[Reference]: ...


@dataclass(slots=True)
class Location:
    path: str
    line: int  # 1-based
    column: int  # 1-based


@dataclass(slots=True)
class Explanation:
    name: str
    kind: str = ""
    definition: Location | None = None
    signature: str = ""
    docstring: str = ""
    references: list[Location] = field(default_factory=list)
    reference_count: int = 0
    other_definitions: list[Location] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def markdown(self) -> str:
        if self.definition is None:
            return f"`{self.name}`: no definition found in the repository index."
        where = f"{self.definition.path}:{self.definition.line}"
        lines = [f"**{self.kind} `{self.name}`** — defined at `{where}`", ""]
        if self.signature:
            lines += ["```", self.signature, "```", ""]
        if self.docstring:
            lines += [self.docstring, ""]
        if self.other_definitions:
            others = ", ".join(f"`{d.path}:{d.line}`" for d in self.other_definitions)
            lines.append(f"Also defined at: {others}")
            lines.append("")
        shown = ", ".join(f"`{r.path}:{r.line}`" for r in self.references[:10])
        more = f" (+{self.reference_count - 10} more)" if self.reference_count > 10 else ""
        lines.append(f"{self.reference_count} reference(s){': ' + shown if shown else ''}{more}")
        return "\n".join(lines)


def identifier_at(text: str, offset: int) -> str | None:
    """The identifier touching the cursor (dotted access keeps only the part under the cursor)."""
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line = text[line_start: len(text) if line_end < 0 else line_end]
    col = offset - line_start
    for match in IDENTIFIER.finditer(line):
        if match.start() <= col <= match.end():
            return match.group()
    return None


class IndexSymbols:
    """The indexer's RepositoryIndex as a SymbolSource (overlays included for segments)."""

    def __init__(self, index: Any) -> None:
        self.index = index

    def resolve(self, path: str, name: str, line: int | None = None) -> list[Definition]:
        return self.index.symbols.resolve(path, name, line)

    def segment(self, segment_id: str) -> Segment | None:
        return self.index.segment(segment_id)

    def references_to(self, name: str) -> list[Reference]:
        return self.index.symbols.references_to(name)


def explain_at(source: SymbolSource, path: str, text: str, line: int, column: int | None) -> Explanation:
    """Explain the identifier at 0-based (line, column) of text; column None: the line's first name
    (after a defining keyword). Raises RequestError for a position out of range or no identifier."""
    try:
        offset = position_to_offset(text, line, column or 0)
    except ValueError as err:
        raise RequestError(f"{path}: {err}") from err
    if column is None:  # the line's first identifier that is not a keyword
        line_text = text[offset:].split("\n", 1)[0]
        names = (m for m in IDENTIFIER.finditer(line_text)
                 if len(m.group()) > 1 and m.group().lower() not in KEYWORDS)
        first = next(names, None)
        offset += first.start() if first else 0
    name = identifier_at(text, offset)
    if name is None:
        raise RequestError(f"{path}:{line + 1}: no identifier at the cursor")
    return explain(source, path, name, line)


def explain(source: SymbolSource, path: str, name: str, line: int) -> Explanation:
    """line: 0-based line of the cursor in `path`."""
    definitions = source.resolve(path, name, line)
    result = Explanation(name)
    if definitions:
        best = definitions[0]
        result.kind = best.kind
        result.name = best.qualified_name or name
        result.definition = Location(best.path, best.line + 1, best.column + 1)
        result.other_definitions = [Location(d.path, d.line + 1, d.column + 1) for d in definitions[1:6]]
        segment = source.segment(best.segment_id)
        if segment is not None:
            offset = best.line - segment.start_line
            result.signature, result.docstring = signature_and_doc(segment.text, offset)
    references = [r for r in source.references_to(name) if not (r.path == path and r.line == line)]
    references.sort(key=lambda r: (r.path != path, r.path, r.line))
    result.reference_count = len(references)
    result.references = [Location(r.path, r.line + 1, r.column + 1) for r in references[:MAX_REFERENCES]]
    return result


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
