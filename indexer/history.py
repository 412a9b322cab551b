"""Recent git history of a line range (`git log -L`), read-only: never writes the working tree or .git.

A directory outside git, an untracked file, a repository without commits or a range git cannot
follow give no commits and a one-line `note` saying why, never an error."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import git

MAX_COMMITS = 5
GIT_TIMEOUT_S = 10.0
_FIELD = "\x1f"
_FORMAT = _FIELD.join(("%H", "%h", "%as", "%an", "%s"))


@dataclass(frozen=True, slots=True)
class CommitInfo:
    sha: str
    short_sha: str
    date: str  # author date, YYYY-MM-DD
    author: str
    subject: str


@dataclass(slots=True)
class History:
    commits: list[CommitInfo] = field(default_factory=list)
    note: str = ""  # why there are no commits, when there are none for a reason

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def line_range_history(root: str | Path, path: str, start_line: int, end_line: int,
                       limit: int = MAX_COMMITS) -> History:
    """Commits that touched lines [start_line, end_line] (1-based, inclusive) of `path` (relative to
    `root`, '/'-separated), newest first. Line numbers are taken in the committed (HEAD) version."""
    if start_line < 1 or end_line < start_line:
        raise ValueError(f"bad line range {start_line}-{end_line}")
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return History(note=f"{root} is not in a git repository: no history")
    with repo:
        if repo.working_tree_dir is None:
            return History(note=f"{root} is a bare repository: no history")
        rel = (Path(root).resolve() / path).relative_to(Path(repo.working_tree_dir).resolve()).as_posix()
        try:
            head_text = repo.git.show(f"HEAD:{rel}", kill_after_timeout=GIT_TIMEOUT_S)
        except git.GitCommandError:
            return History(note=_untracked_note(repo, rel, path))
        end = min(end_line, max(1, head_text.count("\n") + 1))
        if start_line > end:
            return History(note=f"{path}: lines {start_line}-{end_line} are not in the committed version")
        try:
            out = repo.git.log("-L", f"{start_line},{end}:{rel}", "--no-patch", f"--format={_FORMAT}",
                               "-n", str(limit), "HEAD", kill_after_timeout=GIT_TIMEOUT_S)
        except git.GitCommandError as err:
            reason = (err.stderr or str(err)).strip().splitlines()
            return History(note=f"{path}: git log failed: {reason[-1] if reason else 'unknown error'}")
    commits = [CommitInfo(*line.split(_FIELD, 4)) for line in out.splitlines() if line.count(_FIELD) == 4]
    return History(commits=commits)


def _untracked_note(repo: git.Repo, rel: str, path: str) -> str:
    try:
        repo.head.commit  # noqa: B018 - raises without any commit
    except ValueError:
        return f"{path}: the repository has no commits yet: no history"
    return f"{path} is not committed to git (untracked or new): no history"
