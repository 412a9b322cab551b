"""The outline walk skips subtrees that cannot change the outline, but never a comment, a definition or a
container body buried deep inside a unit."""

from __future__ import annotations

from codepager.indexer.parse import parse_file

PYTHON = b'''TABLE = {
    "a": [1, 2, (3, {
        # deep comment, first line
        # deep comment, second line
        "b": 4})],
}


class Box:
    """A box."""
    SIZES = [
        1,  # trailing
        2,
        3,
        4,
    ]

    def open(self):
        return [x for x in range(3)]
'''

def outline(path: str, data: bytes) -> str:
    return parse_file(path, data).outline.text


def test_python_comments_bodies_and_functions_deep_inside_units() -> None:
    text = outline("m.py", PYTHON)
    assert "# deep comment, first line" in text
    assert "second line" not in text  # a comment run keeps its first line only
    assert '"""A box."""' in text
    assert "SIZES = [ ..." in text  # a long class-level statement keeps its first line
    assert "def open(self): ..." in text
    assert "range(3)" not in text

