from __future__ import annotations

from codepager.lsp.cancellation import CLIENT, SUPERSEDED, RequestRegistry


def test_newer_request_for_a_document_cancels_the_older():
    registry = RequestRegistry()
    older = registry.start(1, "file:///a.py", supersede=True, kind="inline")
    other_doc = registry.start(2, "file:///b.py", supersede=True, kind="inline")
    listed = registry.start(4, "file:///a.py", supersede=True, kind="completion")
    newer = registry.start(3, "file:///a.py", supersede=True, kind="inline")
    assert older.cancelled and older.reason == SUPERSEDED
    assert not newer.cancelled and not other_doc.cancelled
    assert not listed.cancelled  # a list completion and an inline one for the same keystroke coexist
    registry.finish(listed, "answered")
    registry.finish(older, "superseded")
    registry.finish(newer, "answered")
    assert registry.in_flight() == 1
    assert registry.counters.to_dict()["by_kind"] == {"inline": 3, "completion": 1}


def test_cancel_by_id_and_shutdown():
    registry = RequestRegistry()
    token = registry.start("x", None, kind="explain")
    assert registry.cancel_id("x") and token() and token.reason == CLIENT
    assert not registry.cancel_id("unknown")
    late = registry.start("y", "file:///a.py", supersede=True)
    registry.cancel_all()
    assert late.cancelled
