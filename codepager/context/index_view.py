"""IndexView: the indexer's RepositoryIndex seen as the RepoView context assembly reads."""

from __future__ import annotations

import hashlib

from codepager.indexer.index import RepositoryIndex
from codepager.indexer.records import OUTLINE, Definition, Segment


class IndexView:
    def __init__(self, index: RepositoryIndex, name: str | None = None) -> None:
        self.index = index
        self.name = name or index.root.name

    def file_paths(self) -> list[str]:
        paths = {r.path for r in self.index.store.files() if not r.skip_reason}
        return sorted(paths | set(self.index.overlays.paths()))

    def file_text(self, path: str) -> tuple[str, str] | None:
        segments = self.index.segments_of(path)
        body = [s for s in segments if s.kind != OUTLINE]
        if not body:
            return None
        text = "".join(s.text for s in body)
        overlay = self.index.overlays.get(path)
        if overlay is not None:
            return text, overlay.content_hash
        record = self.index.store.file(path)
        digest = record.content_hash if record is not None else hashlib.sha256(text.encode()).hexdigest()
        return text, digest

    def outline(self, path: str) -> Segment | None:
        return next((s for s in self.index.segments_of(path) if s.kind == OUTLINE), None)

    def segment(self, segment_id: str) -> Segment | None:
        return self.index.segment(segment_id)

    def resolve(self, path: str, name: str, line: int | None = None) -> list[Definition]:
        return self.index.symbols.resolve(path, name, line)

    def imports_of(self, path: str) -> list[str]:
        return self.index.symbols.imports_of(path)

    def importers_of(self, path: str) -> list[str]:
        return self.index.symbols.importers_of(path)

    def pagerank(self, focus: set[str]) -> dict[str, float]:
        return self.index.graph.pagerank(focus)
