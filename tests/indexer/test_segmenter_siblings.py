"""Segmenter._assign_siblings (bisect over sorted spans) agrees with the plain overlap definition."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codepager.indexer.languages import language_for_path, parser_for
from codepager.indexer.segmenter import Lines, Piece, Segmenter
from codepager.indexer.tags import extract_tags

STDLIB = Path(sys.modules["json"].__file__).parent.parent


def overlapping(segmenter: Segmenter, piece: Piece, siblings: list) -> list[int]:
    spans = [segmenter.lines.span(n) for n in siblings]
    return [n.id for n, (first, last) in zip(siblings, spans, strict=True)
            if first <= piece.last and last >= piece.first]


@pytest.mark.parametrize("name", ["argparse.py", "textwrap.py"])
@pytest.mark.parametrize("reverse", [False, True])  # reversed siblings take the unsorted path
def test_siblings_are_the_overlapping_nodes(name: str, reverse: bool) -> None:
    data = (STDLIB / name).read_bytes()
    spec = language_for_path(name)
    root = parser_for(spec).parse(data).root_node
    segmenter = Segmenter(spec, Lines(data), 7)
    pieces = segmenter.pieces(root, extract_tags(spec, root).roots)
    siblings = list(root.children)[::-1] if reverse else list(root.children)
    assert len(pieces) > 20
    segmenter._assign_siblings(pieces, siblings)
    for piece in pieces:
        assert [n.id for n in piece.siblings] == overlapping(segmenter, piece, siblings)
    assert any(len(p.siblings) > 1 for p in pieces)
