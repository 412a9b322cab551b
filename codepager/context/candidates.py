"""Context items (what a prompt may hold of other files) and the repository view they come from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from codepager.indexer.records import Definition, Segment

# Sources, in the order their items sit in a prompt: the steadiest first (they change least while
# the user types, so they keep hitting the prefix cache), the most cursor-specific last (nearest to
# the cursor, where they help the model most).
IMPORT_OUTLINE = "import-outline"
IMPORTER_OUTLINE = "importer-outline"
GRAPH_OUTLINE = "graph-outline"
RECENT_OUTLINE = "recent-outline"
DEFINITION = "definition"
SIMILAR = "similar"
SOURCE_ORDER = (IMPORT_OUTLINE, IMPORTER_OUTLINE, GRAPH_OUTLINE, RECENT_OUTLINE, DEFINITION, SIMILAR)


class RepoView(Protocol):
    """What context assembly reads of the repository index (codepager.context.index_view adapts
    the indexer's RepositoryIndex to it)."""

    name: str

    def file_paths(self) -> list[str]: ...

    def file_text(self, path: str) -> tuple[str, str] | None:
        """(text, content hash) of an indexed file, the open buffer where there is one."""
        ...

    def outline(self, path: str) -> Segment | None: ...

    def segment(self, segment_id: str) -> Segment | None: ...

    def resolve(self, path: str, name: str, line: int | None = None) -> list[Definition]: ...

    def imports_of(self, path: str) -> list[str]: ...

    def importers_of(self, path: str) -> list[str]: ...

    def pagerank(self, focus: set[str]) -> dict[str, float]: ...


@dataclass(slots=True)
class ContextItem:
    key: str  # segment id, or "path:start-end" for a window; stable while the thing keeps its place
    path: str
    symbol: str  # the symbol name, "<outline>" or "lines a-b"
    source: str  # one of SOURCE_ORDER
    text: str
    content_hash: str  # of text: keys cached KV (engine segments, persisted blobs)
    score: float = 0.0
    lines: tuple[int, int] | None = None  # 0-based [start, end) of the file's text, None for outlines
    tokens: list[int] = field(default_factory=list, repr=False)  # the item's file block, tokenized

    @property
    def source_rank(self) -> int:
        return SOURCE_ORDER.index(self.source)
