"""Run a language's tags query and turn its captures into a definition tree, references and imports.

Only capture-name prefixes are read (see the header of queries/python-tags.scm for the convention),
so a new language needs a query file, not code here.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from operator import itemgetter

from tree_sitter import Node, QueryCursor

from codepager.indexer.languages import LanguageSpec, tags_query
from codepager.indexer.records import Import

# definitions of these kinds qualify what is defined inside them and can be split by member
CONTAINER_KINDS = frozenset({"class", "interface", "struct", "trait", "enum", "module", "namespace",
                             "union", "impl", "object"})
UNQUALIFYING_KINDS = frozenset({"type", "constant", "variable", "field"})
_QUOTES = "\"'`<>"


@dataclass(eq=False, slots=True)
class DefTag:
    kind: str
    name: str
    node: Node  # the whole definition
    name_node: Node
    start: int  # node's byte range, read once (each Node attribute is a call into tree-sitter)
    end: int
    is_scope: bool = False  # qualifies nested definitions without being one (Rust impl)
    qualifier: str = ""  # a scope on the same node (a Go method's receiver type)
    parent: DefTag | None = None
    children: list[DefTag] = field(default_factory=list)
    qualified_name: str = ""

    @property
    def is_container(self) -> bool:
        return self.is_scope or self.kind in CONTAINER_KINDS


# a reference: (start byte, name, kind); plain tuples, as there are ~200 per file
RefTag = tuple[int, str, str]


@dataclass
class FileTags:
    roots: list[DefTag]  # top-level definitions and scopes, in file order
    definitions: list[DefTag]  # every definition (no scopes), in file order
    references: list[RefTag]  # in file order, none on a definition's own name
    imports: list[Import]
    import_nodes: list[Node]  # whole import statements, for the outline
    outline_nodes: list[Node]  # other nodes the outline keeps verbatim (package clauses)


def extract_tags(spec: LanguageSpec, root: Node) -> FileTags:
    # the first pattern in the query file wins when several tag the same node
    defs: dict[tuple[int, int, str], tuple[int, DefTag]] = {}
    scopes: list[DefTag] = []
    refs: dict[int, tuple[int, str, Node]] = {}  # node id -> (pattern, kind, node)
    import_nodes: dict[int, Node] = {}
    import_parts: list[tuple[str, Node]] = []
    outline_nodes: dict[int, Node] = {}
    role_of, seen_ref, reference = _ROLES.get, refs.get, _REFERENCE  # locals: every capture passes here
    for pattern, captures in QueryCursor(tags_query(spec)).matches(root):
        for capture, nodes in captures.items():
            action, kind, name_capture = role_of(capture) or _role(capture)
            if action == reference:
                for node in nodes:
                    node_id = node.id
                    seen = seen_ref(node_id)
                    if seen is None or seen[0] > pattern:
                        refs[node_id] = (pattern, kind, node)
            elif action == _DEFINITION:
                names = captures.get(name_capture)
                if names:
                    node, name_node = nodes[0], names[0]
                    name = (name_node.text or b"").decode("utf-8", "replace")
                    start, end = node.start_byte, node.end_byte
                    key = (start, end, name)
                    seen_def = defs.get(key)
                    if seen_def is None or seen_def[0] > pattern:
                        defs[key] = (pattern, DefTag(kind, name, node, name_node, start, end))
            elif action == _SCOPE and captures.get("name.scope"):
                name_node, node = captures["name.scope"][0], nodes[0]
                scopes.append(DefTag("scope", _text(name_node), node, name_node, node.start_byte,
                                     node.end_byte, is_scope=True))
            elif action == _IMPORT:
                import_nodes.update((n.id, n) for n in nodes)
            elif action == _IMPORT_PART:
                import_parts.extend((capture, n) for n in nodes)
            elif action == _OUTLINE:
                outline_nodes.update((n.id, n) for n in nodes)
    statements = sorted(import_nodes.values(), key=lambda n: n.start_byte)
    roots, definitions = _build_tree([tag for _, tag in defs.values()], scopes)
    defined = {tag.name_node.id for tag in definitions}
    found = [(node.start_byte, node.text or b"", kind) for node_id, (_, kind, node) in refs.items()
             if node_id not in defined]
    found.sort(key=_START)  # stable: equal starts keep the order they were found in
    references = [(start, text.decode("utf-8", "replace"), kind) for start, text, kind in found]
    return FileTags(roots, definitions, references, _group_imports(statements, import_parts), statements,
                    sorted(outline_nodes.values(), key=lambda n: n.start_byte))


_START = itemgetter(0)
_DEFINITION, _SCOPE, _REFERENCE, _IMPORT, _IMPORT_PART, _OUTLINE, _OTHER = range(7)
_ROLES: dict[str, tuple[int, str, str]] = {}  # capture name -> (action, kind, name capture)


def _role(capture: str) -> tuple[int, str, str]:
    """What a capture name asks for, read from its prefix once per name."""
    role, _, kind = capture.partition(".")
    if role == "definition":
        found = (_DEFINITION, kind, f"name.definition.{kind}")
    elif capture == "scope":
        found = (_SCOPE, "", "")
    elif role == "name" and kind.startswith("reference."):
        found = (_REFERENCE, kind.removeprefix("reference."), "")
    elif capture == "import":
        found = (_IMPORT, "", "")
    elif capture in ("import.module", "import.name"):
        found = (_IMPORT_PART, "", "")
    elif capture == "outline":
        found = (_OUTLINE, "", "")
    else:
        found = (_OTHER, "", "")
    _ROLES[capture] = found
    return found


def _build_tree(defs: list[DefTag], scopes: list[DefTag]) -> tuple[list[DefTag], list[DefTag]]:
    by_range = {(d.start, d.end): d for d in defs}
    tree_nodes = list(defs)
    for scope in scopes:
        same = by_range.get((scope.start, scope.end))
        if same is not None:
            same.qualifier = scope.name
        else:
            tree_nodes.append(scope)
    # outer before inner; a scope before a definition on the same range
    tree_nodes.sort(key=lambda d: (d.start, -d.end, not d.is_scope))
    roots: list[DefTag] = []
    stack: list[DefTag] = []
    for tag in tree_nodes:
        while stack and not (stack[-1].start <= tag.start and tag.end <= stack[-1].end):
            stack.pop()
        if stack:
            tag.parent = stack[-1]
            stack[-1].children.append(tag)
        else:
            roots.append(tag)
        stack.append(tag)
        qualifier = tag.parent
        while qualifier is not None and qualifier.kind in UNQUALIFYING_KINDS:
            qualifier = qualifier.parent  # `typedef struct S {...} S;` defines S, not S.S
        prefix = [qualifier.qualified_name] if qualifier else []
        if tag.qualifier:
            prefix.append(tag.qualifier)
        tag.qualified_name = ".".join([*prefix, tag.name])
        in_container = tag.qualifier or (tag.parent is not None and tag.parent.is_container)
        if tag.kind == "function" and in_container:
            tag.kind = "method"
    return roots, [t for t in tree_nodes if not t.is_scope]


def _group_imports(statements: list[Node], parts: list[tuple[str, Node]]) -> list[Import]:
    starts = [n.start_byte for n in statements]
    grouped: dict[int, tuple[list[str], list[str]]] = {i: ([], []) for i in range(len(statements))}
    for capture, node in sorted(parts, key=lambda p: p[1].start_byte):
        i = bisect.bisect_right(starts, node.start_byte) - 1
        if i < 0 or node.end_byte > statements[i].end_byte:
            continue
        modules, names = grouped[i]
        (modules if capture == "import.module" else names).append(_text(node).strip(_QUOTES))
    imports: list[Import] = []
    for i, statement in enumerate(statements):
        modules, names = grouped[i]
        line = statement.start_point.row
        if len(modules) > 1 and not names:
            imports.extend(Import(m, (), line) for m in dict.fromkeys(modules))
        elif modules:
            imports.append(Import(modules[0], tuple(dict.fromkeys(names)), line))
        elif names:
            imports.append(Import("", tuple(dict.fromkeys(names)), line))
    return imports


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")
