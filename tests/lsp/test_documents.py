"""Positions in every LSP encoding, incremental edits, astral characters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codepager.lsp.documents import (
    UTF8,
    UTF16,
    UTF32,
    DocumentStore,
    PositionError,
    TextDocument,
    UnknownDocument,
    column_to_index,
    index_to_column,
)

LINE = "a😀b𝔘é"  # ascii, astral, ascii, astral, 2-byte


def test_columns_in_each_encoding():
    # index:        a=0 😀=1 b=2 𝔘=3 é=4 end=5
    assert [index_to_column(LINE, i, UTF16) for i in range(6)] == [0, 1, 3, 4, 6, 7]
    assert [index_to_column(LINE, i, UTF8) for i in range(6)] == [0, 1, 5, 6, 10, 12]
    assert [index_to_column(LINE, i, UTF32) for i in range(6)] == [0, 1, 2, 3, 4, 5]
    for encoding in (UTF8, UTF16, UTF32):
        for i in range(6):
            assert column_to_index(LINE, index_to_column(LINE, i, encoding), encoding) == i


@pytest.mark.parametrize(("encoding", "column", "problem"), [
    (UTF16, 2, "inside the character"), (UTF8, 3, "inside the character"), (UTF16, 8, "past the end"),
    (UTF32, 6, "past the end"), (UTF16, -1, "negative"),
])
def test_bad_columns(encoding, column, problem):
    with pytest.raises(PositionError, match=problem):
        column_to_index(LINE, column, encoding)


LINE_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r")


@given(st.text(alphabet=LINE_CHARS, max_size=40))
def test_columns_match_encoded_lengths(line):
    for i in range(len(line) + 1):
        assert index_to_column(line, i, UTF16) == len(line[:i].encode("utf-16-le")) // 2
        assert index_to_column(line, i, UTF8) == len(line[:i].encode("utf-8"))
        assert column_to_index(line, index_to_column(line, i, UTF16), UTF16) == i


def test_offsets_and_lines():
    doc = TextDocument("file:///x.py", "one\r\ntwo😀\n\nlast")
    assert doc.line_count == 4
    assert doc.line(0) == "one" and doc.line(1) == "two😀" and doc.line(3) == "last"
    assert doc.offset_at(1, 5, UTF16) == doc.text.index("😀") + 1
    assert doc.position_at(doc.text.index("\n\n") + 1, UTF16) == (2, 0)
    assert doc.position_at(len(doc.text), UTF8) == (3, 4)
    with pytest.raises(PositionError, match="line 4 is out of range"):
        doc.offset_at(4, 0, UTF16)


def test_incremental_changes_across_lines_and_astral_characters():
    doc = TextDocument("file:///x.py", "def f():\n    return '😀'\n")
    doc.apply_change((1, 12), (1, 14), "🎉🎉", UTF16)  # replace the emoji (2 units) by two
    assert doc.text == "def f():\n    return '🎉🎉'\n"
    doc.apply_change((0, 4), (1, 4), "g():\n  ", UTF16)
    assert doc.text == "def g():\n  return '🎉🎉'\n"
    doc.apply_change((2, 0), (2, 0), "x = 1\n", UTF8)
    assert doc.line(2) == "x = 1"
    doc.apply_change(None, None, "whole", UTF16)
    assert doc.text == "whole" and doc.line_count == 1
    with pytest.raises(PositionError, match="ends before it starts"):
        doc.apply_change((0, 3), (0, 1), "", UTF16)


def test_store():
    store = DocumentStore()
    store.open("file:///a.py", "x")
    assert "file:///a.py" in store and len(store) == 1
    with pytest.raises(UnknownDocument, match="is not open"):
        store.get("file:///b.py")
    store.close("file:///a.py")
    with pytest.raises(UnknownDocument):
        store.close("file:///a.py")
