"""Every language against a small sample project: definitions, references, imports, outline, segments."""

from __future__ import annotations

import json
import os

import pytest
from language_golden import DATA, parse_sample, sample_files, summary

from codepager.indexer.languages import LANGUAGES
from codepager.indexer.records import OUTLINE

LANGUAGE_DIRS = sorted({spec.query if spec.name == "tsx" else spec.name for spec in LANGUAGES})


@pytest.mark.parametrize("language", LANGUAGE_DIRS)
def test_sample_project_matches_golden(language: str) -> None:
    lang_dir = DATA / language
    files = sample_files(lang_dir)
    assert len(files) >= 2, f"no sample project in {lang_dir}"
    actual = {}
    for path in files:
        parsed = parse_sample(lang_dir, path)
        assert "".join(s.text for s in parsed.segments if s.kind != OUTLINE) == path.read_text("utf-8")
        actual[parsed.path] = summary(parsed)
    expected_file = lang_dir / "expected.json"
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    for rel in sorted(set(expected) | set(actual)):
        assert actual.get(rel) == expected.get(rel), rel
