from __future__ import annotations

import pytest

from codepager.context.identifiers import identifier_set, name_parts
from codepager.context.retrieval import BM25, JACCARD, WindowIndex, cut_windows, query_lines

PARSER = """\
def parse_header(stream):
    magic = stream.read_magic()
    version = stream.read_version()
    return Header(magic, version)
"""
RENDER = """\
def render_page(template, context):
    html = template.render(context)
    return html.strip()
"""


def test_identifiers_skip_keywords_and_short_names() -> None:
    assert identifier_set("def f(x): return self.read_magic(x)") == {"read_magic"}
    assert name_parts("readMagicHTTPHeader_v2") == ["read", "magic", "http", "header", "v", "2"]


def test_windows_cover_the_file_with_overlap() -> None:
    text = "".join(f"line_{i} = {i}\n" for i in range(45))
    windows = cut_windows("a.py", text, window_lines=20, stride=10)
    assert [(w.start_line, w.end_line) for w in windows] == [(0, 20), (10, 30), (20, 40), (30, 45)]
    assert windows[0].text.startswith("line_0 = 0\n") and "line_19" in windows[0].text


@pytest.mark.parametrize("method", [JACCARD, BM25])
def test_similar_code_ranks_first(method: str) -> None:
    index = WindowIndex(window_lines=4, stride=2, max_df_fraction=1.0)
    index.set_file("parser.py", PARSER, "h1")
    index.set_file("render.py", RENDER, "h2")
    hits = index.search("magic = stream.read_magic()\n", k=2, method=method)
    assert hits[0].window.path == "parser.py"
    assert all(h.window.path != "render.py" for h in hits)  # shares no identifier


def test_excluded_path_and_file_replacement() -> None:
    index = WindowIndex(window_lines=4, stride=2, max_df_fraction=1.0)
    index.set_file("parser.py", PARSER, "h1")
    assert index.search("read_magic", exclude_paths=["parser.py"]) == []
    assert not index.set_file("parser.py", PARSER, "h1")  # same content hash: nothing re-cut
    index.set_file("parser.py", RENDER, "h3")
    assert index.search("read_magic") == []
    assert index.search("template.render")[0].window.path == "parser.py"
    index.remove_file("parser.py")
    assert len(index) == 0 and index.search("template") == []


def test_overlapping_windows_of_one_region_are_returned_once() -> None:
    index = WindowIndex(window_lines=4, stride=1, max_df_fraction=1.0)
    index.set_file("parser.py", PARSER, "h1")
    hits = index.search("stream read_magic read_version Header", k=3)
    spans = [(h.window.start_line, h.window.end_line) for h in hits]
    for i, (a0, a1) in enumerate(spans):
        for b0, b1 in spans[i + 1:]:
            assert a1 <= b0 or b1 <= a0


def test_query_is_the_last_lines_before_the_cursor() -> None:
    assert query_lines("a\nb\nc\nd = ", 2) == "c\nd = "
