"""Explain the symbol under the cursor from the index: definition, signature, docstring, what it
calls, who calls and references it, and (add_history) the commits that touched it. A model-written
summary on top of these facts comes from explain_prose.py."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from codepager.context.buffer import position_to_offset
from codepager.context.explain_markdown import render_markdown
from codepager.context.identifiers import IDENTIFIER, KEYWORDS
from codepager.context.symbol_text import SymbolSpan, signature_and_doc, symbol_span
from codepager.errors import RequestError
from codepager.indexer.history import CommitInfo, line_range_history
from codepager.indexer.records import SYMBOL, Definition, Reference, Segment

__all__ = ["Explanation", "IndexSymbols", "add_history", "explain", "explain_at", "identifier_at",
           "signature_and_doc"]

MAX_REFERENCES = 50
MAX_CALLS = 40
MAX_CODE_CHARS = 6000


class SymbolSource(Protocol):
    def resolve(self, path: str, name: str, line: int | None = None) -> list[Definition]: ...

    def segment(self, segment_id: str) -> Segment | None: ...

    def segments_of(self, path: str) -> list[Segment]: ...

    def definitions_in(self, path: str) -> list[Definition]: ...

    def references_to(self, name: str) -> list[Reference]: ...

    def references_in(self, path: str) -> list[Reference]: ...


@dataclass(slots=True)
class Location:
    path: str
    line: int  # 1-based
    column: int  # 1-based
    symbol: str = ""  # the enclosing (or, for a definition, the qualified) symbol where known


@dataclass(slots=True)
class Call:
    """A name used inside the explained symbol, with where it is defined (None: not in the index)."""

    name: str
    kind: str  # the tags query's reference kind (call | class | type | ...); "call" if called at all
    line: int  # 1-based line of its first use
    count: int
    definition: Location | None = None


@dataclass(slots=True)
class Explanation:
    name: str
    kind: str = ""
    definition: Location | None = None
    signature: str = ""
    docstring: str = ""
    references: list[Location] = field(default_factory=list)  # every reference, callers included
    reference_count: int = 0
    other_definitions: list[Location] = field(default_factory=list)
    end_line: int = 0  # 1-based last line of the definition's body (0: unknown)
    code: str = ""  # the definition's source, cut at MAX_CODE_CHARS
    calls: list[Call] = field(default_factory=list)
    callers: list[Location] = field(default_factory=list)  # references tagged as calls
    caller_count: int = 0
    history: list[CommitInfo] = field(default_factory=list)
    history_note: str = ""  # why there is no history (not a git repository, untracked, ...)
    prose: str = ""  # written by an instruct model from the facts above; "" without one

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def markdown(self) -> str:
        return render_markdown(self)


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
    """The indexer's RepositoryIndex as a SymbolSource (open buffers included)."""

    def __init__(self, index: Any) -> None:
        self.index = index

    def resolve(self, path: str, name: str, line: int | None = None) -> list[Definition]:
        return self.index.symbols.resolve(path, name, line)

    def segment(self, segment_id: str) -> Segment | None:
        return self.index.segment(segment_id)

    def segments_of(self, path: str) -> list[Segment]:
        return self.index.segments_of(path)

    def definitions_in(self, path: str) -> list[Definition]:
        return self.index.symbols.definitions_in(path)

    def references_to(self, name: str) -> list[Reference]:
        return self.index.symbols.references_to(name)

    def references_in(self, path: str) -> list[Reference]:
        return self.index.symbols.references_in(path)


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
        result.definition = Location(best.path, best.line + 1, best.column + 1, best.qualified_name)
        result.other_definitions = [Location(d.path, d.line + 1, d.column + 1, d.qualified_name)
                                    for d in definitions[1:6]]
        segment = source.segment(best.segment_id)
        if segment is not None:
            offset = best.line - segment.start_line
            result.signature, result.docstring = signature_and_doc(segment.text, offset)
        span = symbol_span(source.segments_of(best.path), source.definitions_in(best.path), best)
        if span is not None:
            result.end_line = span.end_line + 1
            result.code = span.code[:MAX_CODE_CHARS]
            result.calls = calls_inside(source, best, span)
    references = [r for r in source.references_to(name) if not (r.path == path and r.line == line)]
    references.sort(key=lambda r: (r.path != path, r.path, r.line))
    result.reference_count = len(references)
    result.references = [_location(r) for r in references[:MAX_REFERENCES]]
    callers = [r for r in references if r.kind == "call"]
    result.caller_count = len(callers)
    result.callers = [_location(r) for r in callers[:MAX_REFERENCES]]
    return result


def calls_inside(source: SymbolSource, definition: Definition, span: SymbolSpan) -> list[Call]:
    """Names the definition's own lines use, in order of first use, each resolved once."""
    found: dict[str, Call] = {}
    for ref in source.references_in(definition.path):
        if not span.start_line <= ref.line <= span.end_line:
            continue
        if ref.line == definition.line and ref.name == definition.name:
            continue
        key = ref.name
        if key in found:
            found[key].count += 1
            if ref.kind == "call":  # `Money` as a type and as a constructor call: one entry, a call
                found[key].kind = "call"
        elif len(found) < MAX_CALLS:
            targets = source.resolve(definition.path, ref.name, ref.line)
            target = Location(targets[0].path, targets[0].line + 1, targets[0].column + 1,
                              targets[0].qualified_name) if targets else None
            found[key] = Call(ref.name, ref.kind, ref.line + 1, 1, target)
    return list(found.values())


def add_history(explanation: Explanation, root: str | Path, limit: int = 5) -> Explanation:
    """The commits that touched the definition's lines (git, read-only); kept apart from explain()
    because `git log -L` may take a while on a long history and needs no index lock."""
    where = explanation.definition
    if where is None:
        return explanation
    history = line_range_history(root, where.path, where.line, max(where.line, explanation.end_line), limit)
    explanation.history = history.commits
    explanation.history_note = history.note
    return explanation


def _location(ref: Reference) -> Location:
    return Location(ref.path, ref.line + 1, ref.column + 1, enclosing_symbol(ref.segment_id))


def enclosing_symbol(segment_id: str) -> str:
    """The symbol name inside a segment id "path::kind::name::ordinal" ("" for gaps and windows)."""
    _, _, rest = segment_id.partition("::")
    kind, _, rest = rest.partition("::")
    name = rest.rpartition("::")[0]
    return name if kind == SYMBOL else ""
