"""Languages with a tree-sitter grammar: extensions, grammar, tags query, and how to outline them.

Adding a language is one `LanguageSpec` entry here plus `queries/<query>-tags.scm`. The node-type
sets are small grammar facts the segmenter and outliner need; everything about which nodes are
definitions, references and imports lives in the query file.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from tree_sitter import Language, Parser, Query

TEXT = "text"  # files without a grammar: line windows only


@dataclass(frozen=True, slots=True)
class LanguageSpec:
    name: str
    extensions: tuple[str, ...]
    grammar_module: str  # the per-language wheel, e.g. "tree_sitter_python"
    grammar_function: str  # its function returning the language pointer
    query: str  # queries/<query>-tags.scm
    comment_prefix: str  # line comment used for the outline's header and doc lines
    elision: str  # what replaces an elided function body
    # nodes that wrap a definition (decorators, export, template<>): the unit moves as one piece
    wrapper_types: frozenset[str] = frozenset()
    # siblings that belong to the definition that follows them (comments, attributes)
    leading_types: frozenset[str] = frozenset({"comment"})
    comment_types: frozenset[str] = frozenset({"comment"})
    python_docstrings: bool = False  # first statement string of a body is the docstring
    comment_start: bytes = rb"/[/*]"  # regex matching how every comment node begins

    def load(self) -> Language:
        return _language(self.grammar_module, self.grammar_function)


_C_LIKE = dict(comment_prefix="//", elision="{ ... }")
_JS_WRAPPERS = frozenset({"export_statement", "lexical_declaration", "variable_declaration"})
_TS_WRAPPERS = _JS_WRAPPERS | {"ambient_declaration"}

LANGUAGES: tuple[LanguageSpec, ...] = (
    LanguageSpec("python", (".py", ".pyi", ".pyw"), "tree_sitter_python", "language", "python",
                 comment_prefix="#", elision="...", wrapper_types=frozenset({"decorated_definition"}),
                 python_docstrings=True, comment_start=rb"#"),
    LanguageSpec("javascript", (".js", ".mjs", ".cjs", ".jsx"), "tree_sitter_javascript", "language",
                 "javascript", wrapper_types=_JS_WRAPPERS, **_C_LIKE),
    LanguageSpec("typescript", (".ts", ".mts", ".cts"), "tree_sitter_typescript", "language_typescript",
                 "typescript", wrapper_types=_TS_WRAPPERS, **_C_LIKE),
    LanguageSpec("tsx", (".tsx",), "tree_sitter_typescript", "language_tsx", "typescript",
                 wrapper_types=_TS_WRAPPERS, **_C_LIKE),
    LanguageSpec("go", (".go",), "tree_sitter_go", "language", "go",
                 wrapper_types=frozenset({"type_declaration", "const_declaration", "var_declaration"}),
                 **_C_LIKE),
    LanguageSpec("rust", (".rs",), "tree_sitter_rust", "language", "rust",
                 leading_types=frozenset({"line_comment", "block_comment", "attribute_item"}),
                 comment_types=frozenset({"line_comment", "block_comment"}), **_C_LIKE),
    LanguageSpec("java", (".java",), "tree_sitter_java", "language", "java",
                 leading_types=frozenset({"line_comment", "block_comment"}),
                 comment_types=frozenset({"line_comment", "block_comment"}), **_C_LIKE),
    LanguageSpec("c", (".c", ".h"), "tree_sitter_c", "language", "c", **_C_LIKE),
    LanguageSpec("cpp", (".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp", ".tpp"),
                 "tree_sitter_cpp", "language", "cpp", wrapper_types=frozenset({"template_declaration"}),
                 **_C_LIKE),
)

_BY_NAME = {spec.name: spec for spec in LANGUAGES}
_BY_EXTENSION = {ext: spec for spec in LANGUAGES for ext in spec.extensions}
_CPP_HEADER_HINT = re.compile(rb"^\s*(class|namespace|template\s*<)|::|\bpublic:|\bprivate:", re.MULTILINE)


def language_for_path(path: str, data: bytes = b"") -> LanguageSpec | None:
    """The grammar for `path` by extension (a `.h` with C++ constructs is C++), or None for text."""
    lower = path.lower()
    dot = lower.rfind(".")
    if dot < 0 or "/" in lower[dot:]:
        return None
    ext = lower[dot:]
    if ext == ".h" and _CPP_HEADER_HINT.search(data):
        return _BY_NAME["cpp"]
    return _BY_EXTENSION.get(ext)


def language_named(name: str) -> LanguageSpec | None:
    return _BY_NAME.get(name)


@cache
def _language(module: str, function: str) -> Language:
    grammar: Callable[[], object] = getattr(importlib.import_module(module), function)
    return Language(grammar())


@cache
def tags_query(spec: LanguageSpec) -> Query:
    query_file = resources.files("codepager.indexer.queries").joinpath(f"{spec.query}-tags.scm")
    source = query_file.read_text("utf-8")
    return Query(spec.load(), source)


_local = threading.local()


def parser_for(spec: LanguageSpec) -> Parser:
    """A parser per thread and language (tree-sitter parsers are not shareable across threads)."""
    parsers: dict[str, Parser] = _local.__dict__.setdefault("parsers", {})
    if spec.name not in parsers:
        parsers[spec.name] = Parser(spec.load())
    return parsers[spec.name]
