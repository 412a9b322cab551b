"""File set: what git would show, ignore rules without git, skipped files with reasons, nothing written."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import git
import pytest

from codepager.indexer.errors import IndexerError
from codepager.indexer.files import is_ignored, list_files
from codepager.indexer.gitignore import IgnoreRules, parse_pattern
from codepager.indexer.parse import parse_file


def write(root: Path, rel: str, data: bytes | str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root (including .git) with its content hash and mode, links as their target."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest() + oct(path.stat().st_mode)
            else:
                found[rel] = "dir"
    return found


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    target = tmp_path / "outside"
    target.mkdir()
    write(target, "secret.py", "password = 1\n")
    return target


def populate(root: Path, outside: Path) -> None:
    write(root, ".gitignore", "*.log\nbuild/\n!keep.log\n")
    write(root, "src/app.py", "import os\n")
    write(root, "src/.gitignore", "generated_*.py\n/local.txt\n")
    write(root, "src/generated_api.py", "x = 1\n")
    write(root, "src/local.txt", "only here\n")
    write(root, "src/deep/local.txt", "not anchored here\n")
    write(root, "debug.log", "noise\n")
    write(root, "keep.log", "kept by negation\n")
    write(root, "build/out.py", "built\n")
    write(root, "notes/todo.md", "- a\n")
    write(root, "big.txt", "x" * 5000)
    write(root, "image.bin", b"\x89PNG\x00\x00\x01\x02" * 10)
    write(root, "latin1.py", b"name = '\xe9t\xe9'\n")
    write(root, "dist/app.min.js", "var a=1;" * 400)
    (root / "link_out.py").symlink_to(outside / "secret.py")
    (root / "link_in.py").symlink_to(root / "src" / "app.py")


def test_git_repo_file_set_and_nothing_written(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    repo = git.Repo.init(root)
    populate(root, outside)
    write(root, ".git/info/exclude", "secret_notes.txt\n")
    write(root, "secret_notes.txt", "excluded through info/exclude\n")
    repo.index.add(["src/app.py", ".gitignore", "src/.gitignore"])
    repo.index.commit("init")
    write(root, "src/tracked_but_ignored.log", "tracked\n")
    repo.index.add(["src/tracked_but_ignored.log"], force=True)
    before = snapshot(root)

    entries, skipped = list_files(root, max_file_bytes=4096)

    assert snapshot(root) == before
    paths = {e.path for e in entries}
    assert paths == {
        ".gitignore", "src/.gitignore", "src/app.py", "src/deep/local.txt", "keep.log", "notes/todo.md",
        "image.bin", "latin1.py", "dist/app.min.js", "link_in.py", "src/tracked_but_ignored.log",
    }
    reasons = {s.path: s.reason for s in skipped}
    assert reasons == {"big.txt": "too-large", "link_out.py": "symlink-outside-root"}
    app = next(e for e in entries if e.path == "src/app.py")
    assert app.abs_path == root / "src" / "app.py" and app.size == len("import os\n") and app.mtime_ns > 0

    assert is_ignored(root, "debug.log") and is_ignored(root, "build/out.py")
    assert is_ignored(root, "src/generated_api.py") and is_ignored(root, "src/local.txt")
    assert is_ignored(root, "secret_notes.txt") and is_ignored(root, ".git/HEAD")
    assert not is_ignored(root, "keep.log") and not is_ignored(root, "src/deep/local.txt")
    assert not is_ignored(root, "src/tracked_but_ignored.log")  # git never ignores a tracked file
    assert not is_ignored(root, "src/app.py")
    assert snapshot(root) == before


def test_bad_files_are_skipped_by_parse_with_reason(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    populate(root, outside)
    entries, _ = list_files(root)
    results = {e.path: parse_file(e.path, e.abs_path.read_bytes()) for e in entries}
    assert results["image.bin"].reason == "binary"
    assert results["dist/app.min.js"].reason == "minified"
    latin = results["latin1.py"]
    assert latin.language == "python" and "\ufffd" in latin.segments[1].text
    assert [d.name for d in latin.definitions] == ["name"]


def test_plain_directory_honours_gitignore(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    populate(root, outside)
    write(root, "vendor/.git/HEAD", "ref: refs/heads/main\n")
    write(root, "vendor/lib.py", "def f(): pass\n")
    before = snapshot(root)

    entries, skipped = list_files(root, max_file_bytes=4096)

    assert snapshot(root) == before
    assert {e.path for e in entries} == {
        ".gitignore", "src/.gitignore", "src/app.py", "src/deep/local.txt", "keep.log", "notes/todo.md",
        "image.bin", "latin1.py", "dist/app.min.js", "link_in.py", "vendor/lib.py",
    }
    assert {s.path: s.reason for s in skipped} == {"big.txt": "too-large",
                                                   "link_out.py": "symlink-outside-root"}
    assert is_ignored(root, "build") and is_ignored(root, "build/out.py")
    assert is_ignored(root, "x/y/debug.log")
    assert not is_ignored(root, "notes/todo.md")


def test_vanished_file_and_bad_root(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    repo = git.Repo.init(root)
    write(root, "a.py", "a = 1\n")
    write(root, "b.py", "b = 1\n")
    repo.index.add(["a.py", "b.py"])
    repo.index.commit("init")
    (root / "b.py").unlink()
    entries, skipped = list_files(root)
    assert [e.path for e in entries] == ["a.py"]
    assert [(s.path, s.reason) for s in skipped] == [("b.py", "vanished")]
    with pytest.raises(IndexerError, match="not a directory"):
        list_files(root / "missing")


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "ignored"),
    [
        ("*.py", "a/b/c.py", False, True),
        ("/top.txt", "top.txt", False, True),
        ("/top.txt", "sub/top.txt", False, False),
        ("doc/*.md", "doc/a.md", False, True),
        ("doc/*.md", "doc/x/a.md", False, False),
        ("**/cache", "a/b/cache", True, True),
        ("logs/**", "logs/a/b.txt", False, True),
        ("a/**/z", "a/z", False, True),
        ("a/**/z", "a/b/c/z", False, True),
        ("out/", "out", False, False),
        ("out/", "out", True, True),
        ("file[0-9].txt", "file7.txt", False, True),
        ("file[!0-9].txt", "file7.txt", False, False),
        ("\\#hash", "#hash", False, True),
        ("name\\ ", "name ", False, True),
        ("?.c", "ab.c", False, False),
    ],
)
def test_gitignore_patterns(pattern: str, path: str, is_dir: bool, ignored: bool) -> None:
    compiled = parse_pattern(pattern)
    assert compiled is not None
    assert compiled.matches(path, is_dir) is ignored


def test_negation_cannot_reinclude_inside_ignored_directory(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "build/\n!build/keep.txt\n*.tmp\n!important.tmp\n")
    write(tmp_path, "sub/.gitignore", "!local.tmp\n")
    rules = IgnoreRules(tmp_path)
    assert rules.is_ignored("build/keep.txt", False)
    assert not rules.is_ignored("important.tmp", False)
    assert rules.is_ignored("x.tmp", False)
    assert not rules.is_ignored("sub/local.tmp", False)  # a deeper ignore file wins
    assert parse_pattern("# comment") is None and parse_pattern("   ") is None
