from __future__ import annotations

import pytest

from codepager.lsp.roots import OutsideWorkspace, WorkspaceRoots


def test_innermost_root_wins_and_paths_are_resolved(tmp_path):
    outer, inner = tmp_path / "mono", tmp_path / "mono" / "libs" / "core"
    inner.mkdir(parents=True)
    roots = WorkspaceRoots([outer, inner])
    found = roots.locate((inner / "src" / "a.py").as_uri())
    assert found.root == inner.resolve() and found.relative == "src/a.py"
    assert roots.locate((outer / "b.py").as_uri()).relative == "b.py"
    with pytest.raises(OutsideWorkspace, match="outside the workspace"):
        roots.locate(outer.as_uri() + "/../elsewhere.py")


def test_refusals(tmp_path):
    roots = WorkspaceRoots([tmp_path / "repo"])
    for uri in ("untitled:Untitled-1", "https://example.com/a.py", "git:/repo/a.py?ref=HEAD"):
        with pytest.raises(OutsideWorkspace, match="not a file: URI"):
            roots.locate(uri)
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "link.py").symlink_to(tmp_path / "secret.py")
    with pytest.raises(OutsideWorkspace, match="outside"):
        roots.locate((tmp_path / "repo" / "link.py").as_uri())
    with pytest.raises(OutsideWorkspace, match="no workspace folder"):
        WorkspaceRoots().locate((tmp_path / "a.py").as_uri())
