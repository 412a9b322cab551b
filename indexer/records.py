"""The records the indexer produces and stores. Plain, frozen, serialisable (to_dict/from_dict)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Segment kinds
OUTLINE = "outline"  # a file's cross-file global tokens: path, imports, signatures, bodies elided
SYMBOL = "symbol"  # a top-level definition, or one method/part of a large one
GAP = "gap"  # code between definitions (imports, module statements)
WINDOW = "window"  # a line window of a file without a grammar


@dataclass(frozen=True, slots=True)
class Segment:
    id: str  # stable across re-indexing while path/kind/name/ordinal stay: "path::kind::name::n"
    path: str  # repository-relative, '/'-separated
    kind: str  # OUTLINE | SYMBOL | GAP | WINDOW
    name: str  # qualified symbol name ("Class.method"); "" for gaps/windows; path for outlines
    start_byte: int
    end_byte: int
    start_line: int  # 0-based, inclusive
    end_line: int  # 0-based, inclusive
    text: str  # exactly the file's text for [start_byte, end_byte) (outline: the rendered outline)
    content_hash: str  # sha256 hex of text (keys the engine's KV cache)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Definition:
    name: str  # bare name ("method")
    qualified_name: str  # "Class.method" where the language allows, else name
    kind: str  # function | method | class | interface | module | constant | type | ...
    path: str
    line: int  # 0-based line of the name
    column: int  # 0-based byte column of the name
    segment_id: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Definition:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Reference:
    name: str
    kind: str  # call | type | import | ...
    path: str
    line: int
    column: int
    segment_id: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reference:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Import:
    module: str  # as written ("os.path", "./util", "github.com/x/y")
    names: tuple[str, ...]  # imported names, () for a whole-module import
    line: int

    def to_dict(self) -> dict[str, Any]:
        return {"module": self.module, "names": list(self.names), "line": self.line}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Import:
        return cls(module=data["module"], names=tuple(data["names"]), line=data["line"])


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """Everything indexing one file yields: what the store keeps for it."""

    path: str
    language: str  # "python", ..., or "text" for files without a grammar
    content_hash: str  # sha256 hex of the file's bytes
    size: int
    segments: tuple[Segment, ...]  # outline first (when the language has one), then in file order
    definitions: tuple[Definition, ...] = ()
    references: tuple[Reference, ...] = ()
    imports: tuple[Import, ...] = ()

    @property
    def outline(self) -> Segment | None:
        return next((s for s in self.segments if s.kind == OUTLINE), None)


@dataclass(frozen=True, slots=True)
class SkippedFile:
    path: str
    reason: str  # "binary" | "too-large" | "minified" | "unreadable" | "vanished" | ...
    detail: str = ""


@dataclass(slots=True)
class IndexSummary:
    files: int = 0
    indexed: int = 0  # parsed this run
    unchanged: int = 0  # skipped because content hash matched
    removed: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    segments: int = 0
    seconds: float = 0.0
