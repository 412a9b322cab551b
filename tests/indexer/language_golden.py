"""Golden summaries of parsed sample projects (tests/data/<lang>/), compared with expected.json.

Regenerate after a deliberate change with
`UPDATE_GOLDEN=1 python -m pytest tests/indexer/test_languages_golden.py` and review the diff:
the expected files are the specification of each language's tags and outline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codepager.indexer.parse import parse_file
from codepager.indexer.records import OUTLINE, ParsedFile

DATA = Path(__file__).resolve().parents[1] / "data"


def sample_files(lang_dir: Path) -> list[Path]:
    return sorted(p for p in lang_dir.rglob("*") if p.is_file() and p.name != "expected.json")


def parse_sample(lang_dir: Path, path: Path) -> ParsedFile:
    rel = path.relative_to(lang_dir).as_posix()
    parsed = parse_file(rel, path.read_bytes())
    assert isinstance(parsed, ParsedFile), parsed
    return parsed


def summary(parsed: ParsedFile) -> dict[str, Any]:
    return {
        "language": parsed.language,
        "outline": parsed.outline.text.splitlines() if parsed.outline else None,
        "segments": [f"{s.kind} {s.name} {s.start_line}-{s.end_line}" for s in parsed.segments
                     if s.kind != OUTLINE],
        "definitions": [f"{d.qualified_name} {d.kind} {d.line}:{d.column}" for d in parsed.definitions],
        "references": [f"{r.name} {r.kind} {r.line}" for r in parsed.references],
        "imports": [f"{i.module} [{', '.join(i.names)}] {i.line}" for i in parsed.imports],
    }
