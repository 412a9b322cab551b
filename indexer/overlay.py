"""Unsaved editor buffers: parsed in memory, never persisted; they win over the disk for their file,
for segments and for the symbol table alike (see SymbolTable)."""

from __future__ import annotations

import hashlib
import threading

from codepager.indexer.parse import parse_file
from codepager.indexer.records import Definition, ParsedFile, Reference


class Overlays:
    def __init__(self) -> None:
        self._parsed: dict[str, ParsedFile] = {}
        self._lock = threading.Lock()

    def get(self, path: str) -> ParsedFile | None:
        with self._lock:
            return self._parsed.get(path)

    def set(self, path: str, text: str) -> ParsedFile:
        data = text.encode("utf-8", errors="surrogatepass")
        result = parse_file(path, data)
        if not isinstance(result, ParsedFile):  # e.g. a buffer that looks minified: serve no segments
            result = ParsedFile(path, "text", hashlib.sha256(data).hexdigest(), len(data), ())
        with self._lock:
            self._parsed[path] = result
        return result

    def clear(self, path: str) -> None:
        with self._lock:
            self._parsed.pop(path, None)

    def paths(self) -> list[str]:
        with self._lock:
            return sorted(self._parsed)

    def __contains__(self, path: str) -> bool:
        with self._lock:
            return path in self._parsed

    def definitions(self, name: str) -> list[Definition]:
        """Buffer definitions whose bare or qualified name is `name` (as the store matches them)."""
        with self._lock:
            parsed = list(self._parsed.values())
        return [d for p in parsed for d in p.definitions if name in (d.name, d.qualified_name)]

    def references_to(self, name: str) -> list[Reference]:
        with self._lock:
            parsed = list(self._parsed.values())
        return [r for p in parsed for r in p.references if r.name == name]
