"""Unsaved editor buffers: parsed in memory, never persisted; they win over the disk for their file."""

from __future__ import annotations

import hashlib
import threading

from codepager.indexer.parse import parse_file
from codepager.indexer.records import ParsedFile


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
