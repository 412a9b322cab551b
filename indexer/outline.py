"""Render a file's outline: its cross-file "global tokens".

A comment line with the path, then in file order the package clause, the imports and every
top-level definition with function bodies elided (`...` in Python, `{ ... }` in C-like languages),
class-level members kept as signatures, each comment run reduced to its first line, a Python
docstring to its first line, and long non-definition statements to their first line.
"""

from __future__ import annotations

import re
import textwrap
from bisect import bisect_left, bisect_right
from functools import cache
from itertools import accumulate

from tree_sitter import Node

from codepager.indexer.languages import LanguageSpec
from codepager.indexer.segmenter import Lines, Segmenter
from codepager.indexer.tags import DefTag, FileTags

FUNCTION_KINDS = frozenset({"function", "method", "constructor"})  # kinds whose bodies are elided
MAX_STATEMENT_LINES = 3  # a longer non-definition statement in a class body keeps its first line
MAX_VALUE_LINES = 12  # a longer constant / type keeps this many lines
_COMMENT_MARKS = re.compile(r"^\s*(?:/\*+!?|\*+/?|//[/!]?|#+)\s?|\s*\*+/\s*$")
_STRING_PREFIX = re.compile(r"^[rRbBuUfF]*")


class OutlineRenderer:
    def __init__(self, spec: LanguageSpec, lines: Lines, segmenter: Segmenter) -> None:
        self.spec = spec
        self.lines = lines
        self.data = lines.data
        self.segmenter = segmenter
        self._unit_ranges: list[tuple[int, int]] = []  # byte ranges of the unit's definitions, sorted
        self._comment_start = _comment_start(spec.comment_start)
        self._functions: dict[int, DefTag] = {}
        self._bodies: set[int] = set()

    def render(self, path: str, root: Node, tags: FileTags) -> str:
        out = [f"{self.spec.comment_prefix} {path}"]
        if self.spec.python_docstrings:
            doc = self._docstring_line(root)
            if doc:
                out.append(doc)
        functions = sorted((t.start, t.end) for t in tags.definitions
                           if t.kind in FUNCTION_KINDS)
        function_starts = [start for start, _ in functions]
        furthest_end = list(accumulate((end for _, end in functions), max))  # over functions[: i + 1]
        units: dict[tuple[int, int], tuple[Node, DefTag | None]] = {}
        for node in [*tags.outline_nodes, *tags.import_nodes]:
            start, end = node.start_byte, node.end_byte
            opened = bisect_right(function_starts, start)  # functions starting at or before the node
            if not (opened and furthest_end[opened - 1] >= end):  # not inside a function
                units.setdefault((start, end), (node, None))
        for tag in tags.roots:
            if tag.parent is None:
                node = self.segmenter.unit_node(tag)
                units.setdefault((node.start_byte, node.end_byte), (node, tag))
        for key in sorted(units):
            node, tag = units[key]
            out.extend(self._render_unit(node, tag))
        return "\n".join(out) + "\n"

    def _render_unit(self, node: Node, tag: DefTag | None) -> list[str]:
        start = self.lines.start(self.segmenter.with_leading(node, self.lines.span(node)[0]))
        replacements: list[tuple[int, int, str]] = []
        if tag is not None:
            elide = _collect(tag)
            leading = node.prev_sibling
            comments = []
            while leading is not None and leading.start_byte >= start:
                comments.append(leading)
                leading = leading.prev_sibling
            self._unit_ranges = sorted((t.start, t.end) for t in elide)
            self._functions = {t.node.id: t for t in elide if t.kind in FUNCTION_KINDS}
            self._bodies = set()
            for comment in reversed(comments):
                self._visit(comment, replacements)
            self._bodies = self._container_bodies(elide)
            self._visit(node, replacements, node.parent.id if node.parent is not None else None)
        else:
            start = node.start_byte - (node.start_point.column if self._indent_only(node) else 0)
        text = self._apply(start, node.end_byte, replacements)
        rendered = [line.rstrip() for line in textwrap.dedent(text).splitlines() if line.strip()]
        limited = tag is not None and tag.kind in ("constant", "variable", "type", "field")
        if limited and len(rendered) > MAX_VALUE_LINES:
            rendered = [*rendered[: MAX_VALUE_LINES - 1], "..."]
        return rendered

    def _indent_only(self, node: Node) -> bool:
        return not self.data[node.start_byte - node.start_point.column : node.start_byte].strip()

    def _container_bodies(self, tags: list[DefTag]) -> set[int]:
        bodies = set()
        for tag in tags:
            if tag.is_container:
                body = tag.node.child_by_field_name("body")
                if body is not None:
                    bodies.add(body.id)
        return bodies

    def _visit(self, node: Node, out: list[tuple[int, int, str]], parent_id: int | None = None) -> None:
        node_id = node.id
        if node_id in self._functions:
            body = _body_of(node)
            if body is not None and self._elide(body, out):
                return
        if node.type in self.spec.comment_types:
            newline = "\n" if (node.text or b"").endswith(b"\n") else ""  # Rust line comments
            out.append((node.start_byte, node.end_byte, self._comment_line(node) + newline))
            return
        if parent_id in self._bodies:
            if self.spec.python_docstrings and self._is_docstring(node):
                out.append((node.start_byte, node.end_byte, self._docstring_of(node)))
                return
            first, last = self.lines.span(node)
            start, end = node.start_byte, node.end_byte
            defines = any(start <= t_start and t_end <= end for t_start, t_end in self._unit_ranges)
            if not defines and last - first + 1 > MAX_STATEMENT_LINES:
                line_end = self.data.find(b"\n", node.start_byte)
                out.append((line_end, node.end_byte, " ..."))
                return
        if node.child_count:
            if node_id in self._bodies:
                for child in node.children:
                    self._visit(child, out, node_id)
            else:
                for child in node.children:
                    if not self._inert(child):
                        self._visit(child, out, node_id)

    def _inert(self, node: Node) -> bool:
        """Whether _visit would replace nothing under node: no definition, container body or comment."""
        start, end = node.start_byte, node.end_byte
        ranges = self._unit_ranges
        i = bisect_left(ranges, (start, -1))
        while i < len(ranges) and ranges[i][0] <= end:
            if ranges[i][1] <= end:
                return False
            i += 1
        if node.id in self._bodies:
            return False
        return self._comment_start.search(self.data, start, end) is None

    def _elide(self, body: Node, out: list[tuple[int, int, str]]) -> bool:
        if not self.spec.python_docstrings:
            if not body.text or not body.text.startswith(b"{"):
                if body.start_point.row == body.end_point.row:
                    return False  # a one-line expression body stays
                out.append((body.start_byte, body.end_byte, "..."))
                return True
            out.append((body.start_byte, body.end_byte, self.spec.elision))
            return True
        first = body.named_children[0] if body.named_children else None
        if first is not None and self._is_docstring(first):
            indent = self.data[self.lines.start(self.lines.line_of(body.start_byte)) : body.start_byte]
            text = self._docstring_of(first) + "\n" + indent.decode("utf-8", "replace") + "..."
            out.append((body.start_byte, body.end_byte, text))
        else:
            colons = [c for c in body.parent.children if c.type == ":" and c.end_byte <= body.start_byte]
            start = colons[-1].end_byte if colons else body.start_byte
            out.append((start, body.end_byte, " ..."))
        return True

    def _comment_line(self, node: Node) -> str:
        """The first meaningful line of a comment run as one line comment; later comments vanish."""
        prev = node.prev_sibling
        if prev is not None and prev.type in self.spec.comment_types \
                and prev.end_point.row >= node.start_point.row - 1:
            return ""
        if not self._indent_only(node):
            return ""  # a trailing comment after code
        text = (node.text or b"").decode("utf-8", "replace")
        for line in text.splitlines():
            cleaned = _COMMENT_MARKS.sub("", line).strip()
            cleaned = _COMMENT_MARKS.sub("", cleaned).strip()
            if cleaned:
                return f"{self.spec.comment_prefix} {cleaned}"
        return ""

    def _docstring_line(self, root: Node) -> str:
        first = root.named_children[0] if root.named_children else None
        return self._docstring_of(first) if first is not None and self._is_docstring(first) else ""

    @staticmethod
    def _is_docstring(node: Node) -> bool:
        return node.type == "expression_statement" and node.named_child_count == 1 \
            and node.named_children[0].type == "string"

    @staticmethod
    def _docstring_of(node: Node) -> str:
        raw = (node.named_children[0].text or b"").decode("utf-8", "replace")
        raw = _STRING_PREFIX.sub("", raw)
        quote = '"""' if raw.startswith('"""') else "'''" if raw.startswith("'''") else raw[:1]
        inner = raw[len(quote) : len(raw) - len(quote)] if len(raw) >= 2 * len(quote) else raw
        line = next((ln.strip() for ln in inner.splitlines() if ln.strip()), "")
        return f'"""{line}"""'

    def _apply(self, start: int, end: int, replacements: list[tuple[int, int, str]]) -> str:
        parts: list[bytes] = []
        cursor = start
        for r_start, r_end, text in sorted(replacements):
            if r_start < cursor:
                continue
            parts.append(self.data[cursor:r_start])
            parts.append(text.encode("utf-8"))
            cursor = r_end
        parts.append(self.data[cursor:end])
        return b"".join(parts).decode("utf-8", "replace")


@cache
def _comment_start(pattern: bytes) -> re.Pattern[bytes]:
    return re.compile(pattern)


def _collect(tag: DefTag) -> list[DefTag]:
    found = [tag]
    for child in tag.children:
        found.extend(_collect(child))
    return found


def _body_of(node: Node) -> Node | None:
    body = node.child_by_field_name("body")
    if body is None:
        value = node.child_by_field_name("value")
        if value is not None:
            body = value.child_by_field_name("body")
    return body
