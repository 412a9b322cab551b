"""Open documents and LSP positions.

LSP positions count a line's characters in the negotiated encoding's code units (UTF-16 by
default, UTF-8 or UTF-32 when the client prefers them); Python strings index code points. Every
conversion goes through `column_to_index` / `index_to_column`, so an astral character (two UTF-16
units, four UTF-8 bytes, one code point) is counted right everywhere.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"
ENCODINGS = (UTF8, UTF16, UTF32)


class PositionError(ValueError):
    """A position outside the document or inside a character."""


class UnknownDocument(KeyError):
    def __str__(self) -> str:
        return f"{self.args[0]} is not open (send textDocument/didOpen first)"


def _units(ch: str, encoding: str) -> int:
    code = ord(ch)
    if encoding == UTF16:
        return 2 if code > 0xFFFF else 1
    if encoding == UTF8:
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return 1


def column_to_index(line: str, column: int, encoding: str) -> int:
    """Code-unit column in `line` (no newline) -> index into `line`."""
    if column < 0:
        raise PositionError(f"character {column} is negative")
    if encoding == UTF32 or line.isascii():
        if column > len(line):
            raise PositionError(f"character {column} is past the end of the line ({len(line)} characters)")
        return column
    units = 0
    for index, ch in enumerate(line):
        if units == column:
            return index
        units += _units(ch, encoding)
        if units > column:
            raise PositionError(f"character {column} points inside the character {ch!r}")
    if units == column:
        return len(line)
    raise PositionError(f"character {column} is past the end of the line ({units} {encoding} units)")


def index_to_column(line: str, index: int, encoding: str) -> int:
    """Index into `line` -> code-unit column."""
    head = line[:index]
    if encoding == UTF32 or head.isascii():
        return len(head)
    return sum(_units(ch, encoding) for ch in head)


@dataclass(slots=True)
class TextDocument:
    uri: str
    text: str
    version: int | None = None
    language_id: str = ""
    _line_starts: list[int] | None = field(default=None, repr=False)

    @property
    def line_starts(self) -> list[int]:
        if self._line_starts is None:
            starts = [0]
            at = self.text.find("\n")
            while at >= 0:
                starts.append(at + 1)
                at = self.text.find("\n", at + 1)
            self._line_starts = starts
        return self._line_starts

    @property
    def line_count(self) -> int:
        return len(self.line_starts)

    def line(self, number: int) -> str:
        starts = self.line_starts
        if not 0 <= number < len(starts):
            raise PositionError(f"line {number} is out of range (the document has {len(starts)} lines)")
        end = starts[number + 1] - 1 if number + 1 < len(starts) else len(self.text)
        return self.text[starts[number]:end].removesuffix("\r")

    def offset_at(self, line: int, character: int, encoding: str) -> int:
        """LSP position -> index into text; PositionError when out of range."""
        text = self.line(line)  # raises for a line out of range
        return self.line_starts[line] + column_to_index(text, character, encoding)

    def position_at(self, offset: int, encoding: str) -> tuple[int, int]:
        """Index into text -> (line, character) in code units."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.line_starts, offset) - 1
        start = self.line_starts[line]
        return line, index_to_column(self.text[start:offset], offset - start, encoding)

    def column_of(self, line: int, character: int, encoding: str) -> int:
        """LSP character -> 0-based column in code points (what the Assistant takes)."""
        return column_to_index(self.line(line), character, encoding)

    def apply_change(self, start: tuple[int, int] | None, end: tuple[int, int] | None, new_text: str,
                     encoding: str) -> None:
        """Replace the range start..end ((line, character) pairs) by new_text; no range: whole text."""
        if start is None or end is None:
            self.text = new_text
        else:
            lo = self.offset_at(start[0], start[1], encoding)
            hi = self.offset_at(end[0], end[1], encoding)
            if hi < lo:
                raise PositionError(f"change range ends before it starts ({start} .. {end})")
            self.text = self.text[:lo] + new_text + self.text[hi:]
        self._line_starts = None


class DocumentStore:
    """The client's open buffers by URI (the truth for every open file, over the disk)."""

    def __init__(self) -> None:
        self._documents: dict[str, TextDocument] = {}

    def open(self, uri: str, text: str, version: int | None = None, language_id: str = "") -> TextDocument:
        document = TextDocument(uri, text, version, language_id)
        self._documents[uri] = document
        return document

    def get(self, uri: str) -> TextDocument:
        document = self._documents.get(uri)
        if document is None:
            raise UnknownDocument(uri)
        return document

    def close(self, uri: str) -> TextDocument:
        document = self._documents.pop(uri, None)
        if document is None:
            raise UnknownDocument(uri)
        return document

    def __contains__(self, uri: str) -> bool:
        return uri in self._documents

    def __len__(self) -> int:
        return len(self._documents)

    def uris(self) -> list[str]:
        return list(self._documents)
