"""git history of a line range, on temporary repositories with several commits."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from codepager.indexer.history import line_range_history

FIRST = "def alpha():\n    return 1\n\n\ndef beta():\n    return 2\n"


def commit(repo: git.Repo, message: str, files: dict[str, str], author: str = "Ada") -> None:
    """One commit per day from 2024-03-01."""
    day = len(list(repo.iter_commits())) + 1 if repo.head.is_valid() else 1
    root = Path(repo.working_tree_dir)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    repo.index.add(list(files))
    actor = git.Actor(author, f"{author.lower()}@example.com")
    repo.index.commit(message, author=actor, committer=actor, author_date=f"2024-03-{day:02d}T12:00:00")


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    repo = git.Repo.init(tmp_path / "repo", initial_branch="main")
    commit(repo, "add alpha and beta", {"src/mod.py": FIRST})
    commit(repo, "beta returns 3", {"src/mod.py": FIRST.replace("return 2", "return 3")}, author="Bob")
    commit(repo, "alpha returns 10", {"src/mod.py": FIRST.replace("return 2", "return 3")
                                      .replace("return 1", "return 10")})
    commit(repo, "unrelated file", {"README.md": "hello\n"})
    return repo


def test_only_commits_that_touched_the_range_newest_first(repo: git.Repo) -> None:
    root = Path(repo.working_tree_dir)
    beta = line_range_history(root, "src/mod.py", 5, 6)
    assert [c.subject for c in beta.commits] == ["beta returns 3", "add alpha and beta"]
    assert beta.note == ""
    newest = beta.commits[0]
    assert (newest.author, newest.date) == ("Bob", "2024-03-02")
    assert len(newest.short_sha) < len(newest.sha) == 40 and newest.sha.startswith(newest.short_sha)
    alpha = line_range_history(root, "src/mod.py", 1, 2)
    assert [c.subject for c in alpha.commits] == ["alpha returns 10", "add alpha and beta"]
    assert [c.subject for c in line_range_history(root, "src/mod.py", 1, 6, limit=1).commits] == [
        "alpha returns 10"]


def test_nothing_written_to_the_repository(repo: git.Repo) -> None:
    git_dir = Path(repo.git_dir)
    before = {p: p.stat().st_mtime_ns for p in git_dir.rglob("*") if p.is_file()}
    line_range_history(repo.working_tree_dir, "src/mod.py", 1, 6)
    line_range_history(repo.working_tree_dir, "new.py", 1, 1)
    after = {p: p.stat().st_mtime_ns for p in git_dir.rglob("*") if p.is_file()}
    assert after == before and not repo.is_dirty(untracked_files=True)


def test_subdirectory_root_and_range_past_the_committed_end(repo: git.Repo) -> None:
    sub = Path(repo.working_tree_dir) / "src"
    history = line_range_history(sub, "mod.py", 5, 40)  # the buffer grew; HEAD has 6 lines
    assert [c.subject for c in history.commits] == ["beta returns 3", "add alpha and beta"]
    assert "not in the committed version" in line_range_history(sub, "mod.py", 30, 40).note


def test_untracked_file_non_git_directory_and_empty_repository(repo: git.Repo, tmp_path: Path) -> None:
    root = Path(repo.working_tree_dir)
    (root / "new.py").write_text("x = 1\n")
    assert "not committed" in line_range_history(root, "new.py", 1, 1).note
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.py").write_text("x = 1\n")
    history = line_range_history(plain, "a.py", 1, 1)
    assert history.commits == [] and "not in a git repository" in history.note
    empty = git.Repo.init(tmp_path / "empty").working_tree_dir
    (Path(empty) / "a.py").write_text("x = 1\n")
    assert "no commits yet" in line_range_history(empty, "a.py", 1, 1).note
    with pytest.raises(ValueError):
        line_range_history(root, "src/mod.py", 3, 2)
