"""parse_file: one file's bytes to its segments, definitions, references and imports.

Binary and minified files are skipped with their reason; invalid UTF-8 is decoded with
replacement. A file with a grammar gets an outline segment followed by symbol and gap segments
that tile it exactly; any other text file gets line windows.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import replace

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


# a reference before it becomes a Reference: (name, kind, line, column, segment id)
RefRow = tuple[str, str, int, int, str]


def parse_file(path: str, data: bytes, *, max_segment_lines: int = 80,
               max_line_length: int = 1000) -> ParsedFile | SkippedFile:
    parsed = parse_rows(path, data, max_segment_lines=max_segment_lines, max_line_length=max_line_length)
    if isinstance(parsed, SkippedFile):
        return parsed
    parsed, rows = parsed
    if not rows:
        return parsed
    references = tuple(Reference(name, kind, path, line, column, segment_id)
                       for name, kind, line, column, segment_id in rows)
    return replace(parsed, references=references)


def parse_rows(path: str, data: bytes, *, max_segment_lines: int = 80,
               max_line_length: int = 1000) -> tuple[ParsedFile, list[RefRow]] | SkippedFile:
    """parse_file with the references as plain rows (the ParsedFile has none): what the store encodes."""
    if max_segment_lines < 1 or max_line_length < 1:
        raise ValueError("max_segment_lines and max_line_length must be positive")
    reason = sniff(data, max_line_length)
    if reason is not None:
        return SkippedFile(path, reason)
    file_hash = sha256(data)
    lines = Lines(data)
    spec = language_for_path(path, data[:SNIFF_BYTES])
    if spec is None:
        windows = tuple(_windows(path, lines, max_segment_lines))
        return ParsedFile(path, TEXT, file_hash, len(data), windows), []
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
                        max_segment_lines: int) -> tuple[ParsedFile, list[RefRow]]:
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
    ids = [s.id for s in segments] or [outline.id]
    segment_starts = [s.start_byte for s in segments]
    starts = lines.starts  # a position's line and column come from its byte offset, as tree-sitter counts

    definitions = []
    for t in tags.definitions:
        start = t.name_node.start_byte
        row = bisect_right(starts, start) - 1
        segment_id = ids[max(bisect_right(segment_starts, start) - 1, 0)]
        definitions.append(Definition(t.name, t.qualified_name, t.kind, path, row, start - starts[row],
                                      segment_id))
    rows: list[RefRow] = []
    for start, name, kind in tags.references:
        row = bisect_right(starts, start) - 1
        segment_id = ids[max(bisect_right(segment_starts, start) - 1, 0)]
        rows.append((name, kind, row, start - starts[row], segment_id))
    parsed = ParsedFile(path, spec.name, file_hash, len(data), (outline, *segments), tuple(definitions), (),
                        tuple(tags.imports))
    return parsed, rows


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
