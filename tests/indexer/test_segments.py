"""Segments tile the file exactly, carry consistent spans and hashes, split large code, keep stable ids."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from codepager.indexer.parse import parse_file
from codepager.indexer.records import GAP, OUTLINE, SYMBOL, WINDOW, ParsedFile

ROOT = Path(__file__).resolve().parents[2]


def parse(path: str, text: str | bytes, **kwargs) -> ParsedFile:
    data = text.encode() if isinstance(text, str) else text
    parsed = parse_file(path, data, **kwargs)
    assert isinstance(parsed, ParsedFile), parsed
    return parsed


def check_tiling(parsed: ParsedFile, data: bytes, max_lines: int | None = None) -> None:
    body = [s for s in parsed.segments if s.kind != OUTLINE]
    assert "".join(s.text for s in body) == data.decode("utf-8", "replace")
    cursor_byte, cursor_line = 0, 0
    for seg in body:
        assert (seg.start_byte, seg.start_line) == (cursor_byte, cursor_line)
        assert data[seg.start_byte : seg.end_byte].decode("utf-8", "replace") == seg.text
        assert seg.content_hash == hashlib.sha256(seg.text.encode()).hexdigest()
        assert seg.end_line - seg.start_line + 1 == seg.text.count("\n") + (not seg.text.endswith("\n"))
        if max_lines is not None:
            assert seg.end_line - seg.start_line + 1 <= max_lines, seg.id
        cursor_byte, cursor_line = seg.end_byte, seg.end_line + 1
    assert cursor_byte == len(data)
    assert len({s.id for s in parsed.segments}) == len(parsed.segments)


def real_sources() -> list[Path]:
    stdlib = Path(sys.modules["json"].__file__).parent.parent
    picks = [stdlib / name for name in ("argparse.py", "dataclasses.py", "textwrap.py", "json/decoder.py")]
    ours = sorted((ROOT / "indexer").glob("*.py"))
    samples = sorted(p for p in (ROOT / "tests" / "data").rglob("*") if p.is_file() and p.suffix != ".json")
    return [p for p in picks if p.exists()] + ours + samples


@pytest.mark.parametrize("path", real_sources(), ids=lambda p: p.name)
@pytest.mark.parametrize("max_lines", [7, 80])
def test_segments_tile_real_files_under_the_cap(path: Path, max_lines: int) -> None:
    data = path.read_bytes()
    parsed = parse(path.name, data, max_segment_lines=max_lines)
    check_tiling(parsed, data, max_lines)


def big_class(methods: int, body_lines: int) -> str:
    lines = ["import os", "", "", "class Big(Base):", '    """A big class."""', "", "    limit = 3", ""]
    for m in range(methods):
        lines.append(f"    def method_{m}(self, x):")
        lines.extend(f"        x = x + {i}" for i in range(body_lines))
        lines.extend(["        return x", ""])
    lines += ["", "def after():", "    return Big()", ""]
    return "\n".join(lines)


def test_large_class_is_split_by_method() -> None:
    text = big_class(methods=4, body_lines=10)
    parsed = parse("big.py", text, max_segment_lines=20)
    check_tiling(parsed, text.encode(), 20)
    kinds_names = [(s.kind, s.name) for s in parsed.segments]
    assert kinds_names == [
        (OUTLINE, "big.py"), (GAP, ""), (SYMBOL, "Big"),
        *[(SYMBOL, f"Big.method_{m}") for m in range(4)], (SYMBOL, "after"),
    ]
    header = parsed.segments[2]
    assert header.text.startswith("class Big(Base):") and "limit = 3" in header.text
    assert parsed.segments[3].text.startswith("    def method_0(self, x):\n")
    assert parsed.segments[3].id == "big.py::symbol::Big.method_0::0"


def test_small_class_stays_whole() -> None:
    text = big_class(methods=2, body_lines=2)
    parsed = parse("small.py", text, max_segment_lines=80)
    assert [(s.kind, s.name) for s in parsed.segments] == [(OUTLINE, "small.py"), (GAP, ""),
                                                           (SYMBOL, "Big"), (SYMBOL, "after")]


def test_over_cap_function_split_at_statement_boundaries() -> None:
    statements = "\n".join(f"    value_{i} = compute({i},\n        {i} + 1)" for i in range(30))
    text = f"def long_one():\n{statements}\n    return value_0\n"
    parsed = parse("long.py", text, max_segment_lines=10)
    check_tiling(parsed, text.encode(), 10)
    parts = [s for s in parsed.segments if s.kind == SYMBOL]
    assert len(parts) >= 7 and {s.name for s in parts} == {"long_one"}
    assert [s.id.rsplit("::", 1)[1] for s in parts] == [str(i) for i in range(len(parts))]
    for seg in parts[1:]:
        assert seg.text.startswith("    value_") or seg.text.startswith("    return")  # never mid-statement


def test_giant_single_statement_is_still_capped() -> None:
    items = "\n".join(f'    "k{i}": {i},' for i in range(50))
    text = f"TABLE = {{\n{items}\n}}\n"
    parsed = parse("table.py", text, max_segment_lines=8)
    check_tiling(parsed, text.encode(), 8)


def test_ids_stable_when_code_above_changes() -> None:
    before = parse("m.py", "def a():\n    pass\n\n\ndef b():\n    return 1\n")
    after = parse("m.py", "import os\n\n\ndef a():\n    x = 1\n    pass\n\n\ndef b():\n    return 1\n")
    ids = lambda p: {s.name: (s.id, s.content_hash) for s in p.segments if s.kind == SYMBOL}
    assert ids(before)["b"] == ids(after)["b"]
    assert ids(before)["a"][0] == ids(after)["a"][0] and ids(before)["a"][1] != ids(after)["a"][1]


def test_duplicate_names_get_ordinals() -> None:
    parsed = parse("d.py", "def f():\n    pass\n\n\ndef f():\n    pass\n")
    assert [s.id for s in parsed.segments if s.kind == SYMBOL] == ["d.py::symbol::f::0", "d.py::symbol::f::1"]


def test_python_outline_elides_bodies_and_keeps_first_docstring_line() -> None:
    text = '''"""Module doc.

Details.
"""
import os
from pkg.sub import thing as other

LIMIT = 10


def helper(a: int, b: str = "x") -> bool:
    """Check things.

    Long explanation.
    """
    return bool(a)


class Service(Base):
    """Serve requests."""

    retries = 3

    @property
    def name(self) -> str:
        return "svc"

    async def run(self, *args, **kwargs):
        """Run it."""
        # a comment inside a body never shows
        await other(args)


if __name__ == "__main__":
    helper(1)
'''
    parsed = parse("pkg/service.py", text)
    assert parsed.segments[0].kind == OUTLINE and parsed.outline is parsed.segments[0]
    assert parsed.outline.text == '''# pkg/service.py
"""Module doc."""
import os
from pkg.sub import thing as other
LIMIT = 10
def helper(a: int, b: str = "x") -> bool:
    """Check things."""
    ...
class Service(Base):
    """Serve requests."""
    retries = 3
    @property
    def name(self) -> str: ...
    async def run(self, *args, **kwargs):
        """Run it."""
        ...
'''


def test_text_file_gets_line_windows() -> None:
    text = "".join(f"line {i}\n" for i in range(25))
    parsed = parse("notes.md", text, max_segment_lines=10)
    assert parsed.language == "text" and parsed.outline is None
    assert [(s.kind, s.start_line, s.end_line) for s in parsed.segments] == [
        (WINDOW, 0, 9), (WINDOW, 10, 19), (WINDOW, 20, 24)]
    check_tiling(parsed, text.encode())


def test_skips_and_replacement() -> None:
    assert parse_file("a.png", b"\x89PNG\r\n\x1a\n\x00\x00").reason == "binary"
    assert parse_file("a.dat", bytes(range(1, 32)) * 20).reason == "binary"
    assert parse_file("a.min.js", b"var a=1;" * 300, max_line_length=1000).reason == "minified"
    one_long_line = "x = 1\n" * 400 + "S = '" + "a" * 1500 + "'\n"
    assert isinstance(parse_file("ok.py", one_long_line.encode()), ParsedFile)
    broken = b"def f():\n    return '\xff\xfe'\n"
    parsed = parse("broken.py", broken)
    check_tiling(parsed, broken)
    assert [d.name for d in parsed.definitions] == ["f"]
    assert parse("empty.py", b"").segments[1:] == ()


def test_no_trailing_newline_and_crlf() -> None:
    for text in ("def f():\n    pass", "def f():\r\n    pass\r\n\r\nx = 1\r\n"):
        check_tiling(parse("n.py", text), text.encode())


def test_syntax_errors_still_tile() -> None:
    text = "def ok():\n    pass\n\nclass Broken(:\n    def m(self) pass\n\ndef fine():\n    return 2\n"
    parsed = parse("err.py", text, max_segment_lines=3)
    check_tiling(parsed, text.encode(), 3)
    assert {"ok", "fine"} <= {d.name for d in parsed.definitions}


def test_java_class_split_keeps_fields_in_header() -> None:
    methods = "\n".join(f"    public int m{i}() {{\n        return {i};\n    }}\n" for i in range(4))
    text = f"package a;\n\npublic class Big {{\n    private int x;\n    private int y;\n\n{methods}}}\n"
    parsed = parse("Big.java", text, max_segment_lines=6)
    check_tiling(parsed, text.encode(), 6)
    names = [s.name for s in parsed.segments if s.kind == SYMBOL]
    assert names == ["Big", "Big.m0", "Big.m1", "Big.m2", "Big.m3"]
    assert "private int y;" in parsed.segments[2].text and parsed.segments[-1].text.endswith("}\n}\n")


def test_rust_impl_split_by_method_and_c_include_guard_looked_through() -> None:
    fns = "\n".join(f"    fn f{i}(&self) -> u32 {{\n        {i}\n    }}\n" for i in range(3))
    text = f"struct S;\n\nimpl S {{\n{fns}}}\n"
    parsed = parse("s.rs", text, max_segment_lines=5)
    check_tiling(parsed, text.encode(), 5)
    assert [s.name for s in parsed.segments if s.kind == SYMBOL] == ["S", "S", "S.f0", "S.f1", "S.f2"]
    header = "#ifndef H\n#define H\nint a(void);\n\nint b(void);\n#endif\n"
    parsed = parse("x.h", header)
    assert [(s.kind, s.name) for s in parsed.segments[1:]] == [
        (GAP, ""), (SYMBOL, "H"), (SYMBOL, "a"), (SYMBOL, "b"), (GAP, "")]
