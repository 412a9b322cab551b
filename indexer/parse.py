"""parse_file: one file's bytes to its segments, definitions, references and imports.

Binary and minified files are skipped with their reason; invalid UTF-8 is decoded with
replacement. A file with a grammar gets an outline segment followed by symbol and gap segments
that tile it exactly; any other text file gets line windows.
"""

from __future__ import annotations

import bisect
import hashlib

from codepager.indexer.languages import TEXT, LanguageSpec, language_for_path, parser_for
from codepager.indexer.outline import OutlineRenderer
from codepager.indexer.records import (
    OUTLINE,
    WINDOW,
    Definition,
    ParsedFile,
    Reference,
    Segment,
    SkippedFile,
)
from codepager.indexer.segmenter import Lines, Piece, Segmenter
from codepager.indexer.tags import extract_tags

SNIFF_BYTES = 8192
MAX_CONTROL_FRACTION = 0.1  # more control characters than this in the first bytes: binary
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v\b\x1b")
_BINARY_CONTROLS = bytes(b for b in range(32) if b not in _TEXT_CONTROLS)


def parse_file(path: str, data: bytes, *, max_segment_lines: int = 80,
               max_line_length: int = 1000) -> ParsedFile | SkippedFile:
    if max_segment_lines < 1 or max_line_length < 1:
        raise ValueError("max_segment_lines and max_line_length must be positive")
    reason = sniff(data, max_line_length)
    if reason is not None:
        return SkippedFile(path, reason)
    file_hash = sha256(data)
    lines = Lines(data)
    spec = language_for_path(path, data[:SNIFF_BYTES])
    if spec is None:
        return ParsedFile(path, TEXT, file_hash, len(data), tuple(_windows(path, lines, max_segment_lines)))
    return _parse_with_grammar(path, data, spec, lines, file_hash, max_segment_lines)


def sniff(data: bytes, max_line_length: int) -> str | None:
    """"binary", "minified" or None for a text file worth indexing."""
    head = data[:SNIFF_BYTES]
    if b"\0" in head:
        return "binary"
    controls = len(head) - len(head.translate(None, _BINARY_CONTROLS))
    if head and controls > MAX_CONTROL_FRACTION * len(head):
        return "binary"
    if len(data) > max_line_length:
        long_bytes = sum(len(line) for line in data.split(b"\n") if len(line) > max_line_length)
        if long_bytes > len(data) // 2:
            return "minified"
    return None


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def _parse_with_grammar(path: str, data: bytes, spec: LanguageSpec, lines: Lines, file_hash: str,
                        max_segment_lines: int) -> ParsedFile:
    tree = parser_for(spec).parse(data)
    root = tree.root_node
    tags = extract_tags(spec, root)
    segmenter = Segmenter(spec, lines, max_segment_lines)
    pieces = segmenter.pieces(root, tags.roots)
    outline_text = OutlineRenderer(spec, lines, segmenter).render(path, root, tags)
    last_line = max(lines.count - 1, 0)
    outline = Segment(f"{path}::{OUTLINE}::{path}::0", path, OUTLINE, path, 0, len(data), 0, last_line,
                      outline_text, sha256(outline_text))
    segments = _segments(path, lines, pieces)
    firsts = [s.start_line for s in segments]
    ids = [s.id for s in segments] or [outline.id]

    definitions = []
    for t in tags.definitions:
        row, column = t.name_node.start_point
        segment_id = ids[max(bisect.bisect_right(firsts, row) - 1, 0)]
        definitions.append(Definition(t.name, t.qualified_name, t.kind, path, row, column, segment_id))
    references = []
    for r in tags.references:
        row, column = r.node.start_point
        segment_id = ids[max(bisect.bisect_right(firsts, row) - 1, 0)]
        references.append(Reference(r.name, r.kind, path, row, column, segment_id))
    return ParsedFile(path, spec.name, file_hash, len(data), (outline, *segments), tuple(definitions),
                      tuple(references), tuple(tags.imports))


def _segments(path: str, lines: Lines, pieces: list[Piece]) -> list[Segment]:
    seen: dict[tuple[str, str], int] = {}
    segments = []
    for piece in pieces:
        ordinal = seen.get((piece.kind, piece.name), 0)
        seen[(piece.kind, piece.name)] = ordinal + 1
        segments.append(_segment(f"{path}::{piece.kind}::{piece.name}::{ordinal}", path, piece.kind,
                                 piece.name, lines, piece.first, piece.last))
    return segments


def _windows(path: str, lines: Lines, size: int) -> list[Segment]:
    return [
        _segment(f"{path}::{WINDOW}::::{n}", path, WINDOW, "", lines, first,
                 min(first + size, lines.count) - 1)
        for n, first in enumerate(range(0, lines.count, size))
    ]


def _segment(seg_id: str, path: str, kind: str, name: str, lines: Lines, first: int, last: int) -> Segment:
    start, end = lines.start(first), lines.end(last)
    text = lines.data[start:end].decode("utf-8", "replace")
    return Segment(seg_id, path, kind, name, start, end, first, last, text, sha256(text))
