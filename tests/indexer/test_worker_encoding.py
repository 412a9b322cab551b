"""A worker's fast path (parse_rows -> encode_file with reference rows) stores exactly what the in-process
path (parse_file -> IndexStore.put_file) stores, and positions computed from byte offsets agree with
tree-sitter's points."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codepager.indexer.imports import import_keys
from codepager.indexer.languages import language_for_path, parser_for
from codepager.indexer.parallel import ParseJob, run_job
from codepager.indexer.parse import parse_file, parse_rows
from codepager.indexer.records import ParsedFile
from codepager.indexer.store_codec import FileRecord, encode_file

DATA = Path(__file__).resolve().parents[1] / "data"
STDLIB = Path(sys.modules["json"].__file__).parent.parent
SAMPLES = sorted(p for p in DATA.rglob("*") if p.is_file() and p.name != "expected.json")


def test_there_are_samples_of_every_language() -> None:
    languages = {spec.name for p in SAMPLES if (spec := language_for_path(p.name)) is not None}
    assert {"python", "javascript", "typescript", "go", "rust", "java", "c", "cpp"} <= languages


@pytest.mark.parametrize("path", [*SAMPLES, STDLIB / "argparse.py", STDLIB / "json" / "decoder.py"],
                         ids=lambda p: p.name)
def test_worker_rows_equal_the_in_process_encoding(path: Path) -> None:
    rel = path.name
    result = run_job(ParseJob(rel, str(path), "", 1_000_000))
    parsed = parse_file(rel, path.read_bytes())
    if not isinstance(parsed, ParsedFile):
        assert result.parsed == parsed
        return
    record = FileRecord(rel, parsed.content_hash, result.size, result.mtime_ns, parsed.language)
    expected = encode_file(record, parsed, import_keys(rel, parsed.language, parsed.imports))
    assert result.parsed == expected


@pytest.mark.parametrize("name", ["argparse.py", "textwrap.py"])
def test_positions_from_byte_offsets_are_tree_sitter_points(name: str) -> None:
    data = (STDLIB / name).read_bytes()
    parsed, rows = parse_rows(name, data)
    assert rows and parsed.references == ()
    tree = parser_for(language_for_path(name)).parse(data)
    for _, _, line, column, _ in rows[:200]:
        node = tree.root_node.descendant_for_point_range((line, column), (line, column))
        assert node.start_point == (line, column)
    full = parse_file(name, data)
    assert [(r.name, r.kind, r.line, r.column, r.segment_id) for r in full.references] == rows


def test_definition_keys_are_in_a_fixed_order() -> None:
    parsed = parse_file("m.py", b"class C:\n    def f(self):\n        pass\n")
    record = FileRecord("m.py", parsed.content_hash, 1, 1, parsed.language)
    assert encode_file(record, parsed).record.def_names == ("C", "f", "C.f")
