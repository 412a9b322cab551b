"""Cut a parsed file into symbol and gap pieces that tile it line by line.

Pieces are whole-line ranges, so the pieces' texts concatenate to the file exactly. Each top-level
definition (with its decorators, export/template wrappers, leading comments and attributes) is one
symbol piece; the code between them is a gap. A piece over the line cap is split: a container
(class, impl, namespace...) into its header/fields part and one piece per member ("Class.method"),
anything else at the start lines of its child nodes (statement boundaries), recursively.
"""

from __future__ import annotations

import bisect
import operator
import re
from dataclasses import dataclass, field
from itertools import accumulate

from tree_sitter import Node

from codepager.indexer.languages import LanguageSpec
from codepager.indexer.records import GAP, SYMBOL
from codepager.indexer.tags import DefTag

_CLOSING_ONLY = re.compile(rb"[\s})\];,]*")
VALUE_KINDS = frozenset({"field", "constant", "variable"})


class Lines:
    """Byte offsets of the lines of one file (a trailing newline does not start a new line)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        starts = [0]
        starts += accumulate(map((1).__add__, map(len, data.split(b"\n")[:-1])))  # after each newline
        if starts[-1] == len(data) and len(starts) > 1:
            starts.pop()
        self.count = len(starts) if data else 0
        self.starts = starts

    def start(self, line: int) -> int:
        return self.starts[line]

    def end(self, line: int) -> int:
        return self.starts[line + 1] if line + 1 < len(self.starts) else len(self.data)

    def text(self, first: int, last: int) -> bytes:
        return self.data[self.start(first) : self.end(last)]

    def span(self, node: Node) -> tuple[int, int]:
        first, last = node.start_point.row, node.end_point.row
        if node.end_point.column == 0 and last > first:
            last -= 1
        return first, min(last, self.count - 1)

    def line_of(self, byte: int) -> int:
        return bisect.bisect_right(self.starts, byte) - 1


@dataclass
class Piece:
    kind: str  # SYMBOL | GAP
    name: str  # qualified symbol name, "" for gaps
    first: int  # 0-based inclusive line range
    last: int
    defs: list[DefTag] = field(default_factory=list)  # definitions whose unit this piece is
    siblings: list[Node] = field(default_factory=list)  # nodes of the level this piece was cut from

    @property
    def size(self) -> int:
        return self.last - self.first + 1


class Segmenter:
    def __init__(self, spec: LanguageSpec, lines: Lines, max_lines: int) -> None:
        self.spec = spec
        self.lines = lines
        self.max_lines = max_lines
        self._units: dict[int, Node] = {}  # definition node id -> its unit node

    def pieces(self, root: Node, defs: list[DefTag]) -> list[Piece]:
        if self.lines.count == 0:
            return []
        top = self._tile(0, self.lines.count - 1, self._flatten(list(root.children), defs), defs, GAP, "")
        return [small for piece in top for small in self._split(piece)]

    def _flatten(self, nodes: list[Node], defs: list[DefTag]) -> list[Node]:
        """Look through nodes that only group definitions (include guards, `extern "C"`, `if` blocks)."""
        units = {self.unit_node(t).id for t in defs}
        starts = [t.start for t in defs]  # defs are in file order
        flat: list[Node] = []
        for node in nodes:
            start, end = node.start_byte, node.end_byte
            candidates = defs[bisect.bisect_left(starts, start) : bisect.bisect_right(starts, end)]
            inside = [t for t in candidates if t.end <= end]
            if len(inside) > 1 and node.id not in units:
                flat.extend(self._flatten(list(node.children), inside))
            else:
                flat.append(node)
        return flat

    def unit_node(self, tag: DefTag) -> Node:
        """The definition with its wrappers (decorators, export, template<>)."""
        node = self._units.get(tag.node.id)
        if node is None:
            node = tag.node
            parent = node.parent
            while parent is not None and parent.type in self.spec.wrapper_types:
                node, parent = parent, parent.parent
            self._units[tag.node.id] = node
        return node

    def _tile(self, first: int, last: int, siblings: list[Node], defs: list[DefTag],
              filler_kind: str, filler_name: str) -> list[Piece]:
        """Pieces covering lines [first, last]: one per unit holding a definition, fillers between."""
        units: list[Piece] = []
        sibling_ids = {n.id for n in siblings}
        for tag in defs:
            unit = self._unit_among(tag, sibling_ids)
            if unit is None:
                continue
            start, end = self.lines.span(unit)
            start = self.with_leading(unit, start)
            start, end = max(start, first), min(end, last)
            if start > end:
                continue
            if units and start <= units[-1].last:
                units[-1].last = max(units[-1].last, end)
                units[-1].defs.append(tag)
            else:
                units.append(Piece(SYMBOL, tag.qualified_name, start, end, [tag]))
        pieces: list[Piece] = []
        cursor = first
        for unit in [*units, None]:
            stop = unit.first - 1 if unit else last
            if cursor <= stop:
                self._add_filler(pieces, Piece(filler_kind, filler_name, cursor, stop))
            if unit:
                if pieces and pieces[-1].defs == [] and self._is_blank(pieces[-1]):
                    unit.first = pieces.pop().first  # blank lines opening the range
                pieces.append(unit)
                cursor = unit.last + 1
        self._assign_siblings(pieces, siblings)
        return pieces

    def _add_filler(self, pieces: list[Piece], filler: Piece) -> None:
        """Whitespace (and a lone closing brace) joins the piece before it instead of standing alone."""
        text = self.lines.text(filler.first, filler.last)
        if pieces and _CLOSING_ONLY.fullmatch(text):
            pieces[-1].last = filler.last
            return
        if pieces:  # blank lines after a piece stay with it
            while not self.lines.text(filler.first, filler.first).strip():
                filler.first += 1
            pieces[-1].last = filler.first - 1
        pieces.append(filler)

    def _is_blank(self, piece: Piece) -> bool:
        return not self.lines.text(piece.first, piece.last).strip()

    def _unit_among(self, tag: DefTag, ids: set[int]) -> Node | None:
        """The sibling that holds `tag`'s unit (the unit itself, or the statement around it)."""
        node: Node | None = self.unit_node(tag)
        while node is not None and node.id not in ids:
            node = node.parent
        return node

    def with_leading(self, unit: Node, start: int) -> int:
        """Extend upwards over comments/attributes directly above the unit, each on its own lines."""
        prev = unit.prev_sibling
        while prev is not None and prev.type in self.spec.leading_types:
            p_first, p_last = self.lines.span(prev)
            if p_last < start - 1:
                break  # a blank line or code in between
            if self.lines.data[self.lines.start(p_first) : prev.start_byte].strip():
                break  # a trailing comment of the code before it
            start = min(start, p_first)
            prev = prev.prev_sibling
        return start

    def _assign_siblings(self, pieces: list[Piece], siblings: list[Node]) -> None:
        """Give each piece the siblings whose lines overlap it."""
        spans = [self.lines.span(n) for n in siblings]
        firsts = [first for first, _ in spans]
        lasts = [last for _, last in spans]
        if _nondecreasing(firsts) and _nondecreasing(lasts):
            for piece in pieces:  # sorted spans: the overlapping siblings are one contiguous run
                lo = bisect.bisect_left(lasts, piece.first)
                hi = bisect.bisect_right(firsts, piece.last)
                piece.siblings = siblings[lo:hi]
            return
        for piece in pieces:
            piece.siblings = [n for n, (first, last) in zip(siblings, spans, strict=True)
                              if first <= piece.last and last >= piece.first]

    def _split(self, piece: Piece) -> list[Piece]:
        if piece.size <= self.max_lines:
            return [piece]
        members = self._members(piece)
        if members:
            body_children = list(self.unit_node(members[0]).parent.children)
            container = piece.name
            parts = self._tile(piece.first, piece.last, body_children, members, SYMBOL, container)
            if len(parts) > 1:
                return [small for part in parts for small in self._split(part)]
        return self._split_at_statements(piece)

    def _members(self, piece: Piece) -> list[DefTag]:
        """What a large piece splits into: a container's members, or the definitions it groups."""
        if len(piece.defs) > 1:
            return piece.defs
        tag = piece.defs[0] if piece.defs else None
        if tag is None or not tag.is_container:
            return []
        return [c for c in tag.children if c.kind not in VALUE_KINDS]  # fields stay with the header

    def _split_at_statements(self, piece: Piece) -> list[Piece]:
        cuts: set[int] = set()
        stack = list(piece.siblings)
        while stack:
            node = stack.pop()
            first, last = self.lines.span(node)
            if piece.first < first <= piece.last:
                cuts.add(first)
            if last - first + 1 > self.max_lines:
                stack.extend(node.children)
        ordered = sorted(cuts)
        chunks: list[Piece] = []
        start = piece.first
        while piece.last - start + 1 > self.max_lines:
            i = bisect.bisect_right(ordered, start + self.max_lines) - 1
            cut = ordered[i] if i >= 0 and ordered[i] > start else start + self.max_lines
            chunks.append(Piece(piece.kind, piece.name, start, cut - 1, piece.defs))
            start = cut
        chunks.append(Piece(piece.kind, piece.name, start, piece.last, piece.defs))
        return chunks


def _nondecreasing(values: list[int]) -> bool:
    return all(map(operator.le, values, values[1:]))
