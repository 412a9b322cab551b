"""Identifiers of code text: the lexical unit of retrieval and of resolving names near the cursor."""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Keywords of the indexed languages carry no information about which code is similar.
_KEYWORD_TEXT = (
    "and as assert async await break case catch class const continue def default del do elif else "
    "enum except export extends false final finally fn for from func function go if impl import in "
    "interface is lambda let match mod new nil none not null or package pass private protected pub "
    "public raise return self static struct super switch this throw true try type typeof use var "
    "void while with yield int float str bool char long short unsigned double string byte"
)
KEYWORDS = frozenset(_KEYWORD_TEXT.split())


def identifiers(text: str) -> list[str]:
    """Identifiers in order of appearance (with repeats), keywords and 1-letter names left out."""
    return [m for m in IDENTIFIER.findall(text) if len(m) > 1 and m.lower() not in KEYWORDS]


def identifier_set(text: str) -> frozenset[str]:
    return frozenset(identifiers(text))


def name_parts(name: str) -> list[str]:
    """snake_case / camelCase parts of a name, lower-cased (for fuzzy matching)."""
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", name)
    return [p.lower() for p in parts]
