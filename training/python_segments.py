"""A Python file as the training samples see it: outline, top-level symbols, imports.

Uses the indexer's tree-sitter parser (`codepager.indexer.parse.parse_file`) when it can be
imported, so that training sees the outlines the context assembler serves at inference; otherwise
falls back to the standard library's `ast` with the same outline shape (path-free; imports,
signatures with their first docstring line, bodies elided).
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    start_line: int  # 0-based, inclusive
    end_line: int  # 0-based, inclusive
    text: str


@dataclass(frozen=True, slots=True)
class ImportRef:
    module: str  # as written, without leading dots
    names: tuple[str, ...]
    level: int  # leading dots of a relative import


@dataclass(frozen=True, slots=True)
class FileView:
    path: str
    text: str
    outline: str
    symbols: tuple[Symbol, ...]
    imports: tuple[ImportRef, ...]


def _indexer_parse():
    """The indexer's parser if it imports and parses Python here (the grammar wheel may be missing)."""
    try:
        from codepager.indexer.parse import parse_file
        from codepager.indexer.records import SYMBOL, ParsedFile

        probe = parse_file("probe.py", b"import os\n\n\ndef f(x):\n    return os.sep + x\n")
    except Exception:
        return None
    if not isinstance(probe, ParsedFile) or not any(s.kind == SYMBOL for s in probe.segments):
        return None
    return parse_file


_PARSE_FILE = _indexer_parse()
BACKEND = "indexer" if _PARSE_FILE is not None else "ast"


def view_file(path: str, text: str) -> FileView | None:
    """The file's view, or None when it does not parse."""
    if _PARSE_FILE is not None:
        return _view_from_indexer(path, text)
    return _view_from_ast(path, text)


def _view_from_indexer(path: str, text: str) -> FileView | None:
    from codepager.indexer.records import OUTLINE, SYMBOL, ParsedFile

    try:
        parsed = _PARSE_FILE(path, text.encode("utf-8"))
    except Exception:  # a parser bug on one odd file must not stop a training run
        return None
    if not isinstance(parsed, ParsedFile):
        return None
    outline = next((s.text for s in parsed.segments if s.kind == OUTLINE), "")
    symbols = tuple(
        Symbol(s.name, s.start_line, s.end_line, s.text) for s in parsed.segments if s.kind == SYMBOL
    )
    imports = tuple(
        ImportRef(i.module.lstrip("."), tuple(i.names), len(i.module) - len(i.module.lstrip(".")))
        for i in parsed.imports
    )
    return FileView(path, text, outline, symbols, imports)


def _view_from_ast(path: str, text: str) -> FileView | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    lines = text.splitlines(keepends=True)
    symbols, imports, outline = [], [], []
    for node in tree.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        end = (node.end_lineno or node.lineno) - 1
        if isinstance(node, ast.Import):
            imports += [ImportRef(a.name, (), 0) for a in node.names]
            outline.append("".join(lines[start : end + 1]).rstrip("\n"))
        elif isinstance(node, ast.ImportFrom):
            imports.append(ImportRef(node.module or "", tuple(a.name for a in node.names), node.level))
            outline.append("".join(lines[start : end + 1]).rstrip("\n"))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            symbols.append(Symbol(node.name, start, end, "".join(lines[start : end + 1])))
            outline += _signature(node, lines, "")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and start == end and len(lines[start]) < 120:
            outline.append(lines[start].rstrip("\n"))
    return FileView(path, text, "\n".join(outline) + "\n" if outline else "", tuple(symbols), tuple(imports))


def _signature(node: ast.AST, lines: list[str], indent: str) -> list[str]:
    body = node.body  # type: ignore[attr-defined]
    head_end = body[0].lineno - 1 if body else node.lineno  # type: ignore[attr-defined]
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        head_end = body[0].lineno - 1
    head = [ln.rstrip("\n") for ln in lines[node.lineno - 1 : max(head_end, node.lineno)]]  # type: ignore
    if len(head) > 6:
        head = head[:6]
    out = [indent + h.strip() if i == 0 else h for i, h in enumerate(head)]
    inner = indent + "    "
    doc = ast.get_docstring(node, clean=True) if isinstance(node, ast.FunctionDef | ast.ClassDef |
                                                            ast.AsyncFunctionDef) else None
    if doc:
        out.append(f'{inner}"""{doc.strip().splitlines()[0][:100]}"""')
    if isinstance(node, ast.ClassDef):
        for child in body:
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out += _signature(child, lines, inner)
        if not any(isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef)) for c in body) and not doc:
            out.append(inner + "...")
    else:
        out.append(inner + "...")
    return out
