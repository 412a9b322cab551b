"""The file set of a repository: what `git status` would show, read-only.

In a git work tree: tracked plus untracked-not-ignored files (`git ls-files -co --exclude-standard`,
which honours `.gitignore`, `.git/info/exclude` and `core.excludesFile`). Anywhere else: a walk that
honours `.gitignore` files (see gitignore.py). Never writes to the tree or to `.git`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import git

from codepager.indexer.errors import IndexerError
from codepager.indexer.gitignore import IgnoreRules, is_within
from codepager.indexer.records import SkippedFile

# git may refresh stat data in the index when it holds a lock; forbid that
_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0"}


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str  # repository-relative, '/'-separated
    abs_path: Path
    size: int
    mtime_ns: int


def list_files(root: Path, *, max_file_bytes: int = 1_000_000) -> tuple[list[FileEntry], list[SkippedFile]]:
    """Every indexable file under `root`, sorted by path, and the files left out with their reason."""
    root = Path(root)
    if not root.is_dir():
        raise IndexerError(f"not a directory: {root}")
    candidates = _git_candidates(root)
    if candidates is None:
        candidates = _walk_candidates(root)
    entries: list[FileEntry] = []
    skipped: list[SkippedFile] = []
    for rel in sorted(set(candidates)):
        result = _entry_for(root, rel, max_file_bytes)
        (entries if isinstance(result, FileEntry) else skipped).append(result)
    return entries, skipped


def is_ignored(root: Path, rel_path: str) -> bool:
    """Whether list_files would leave `rel_path` out as ignored (always true inside `.git`).

    Answers from the ignore files directly (no git process), except that a file git tracks is never
    ignored, as in git.
    """
    root = Path(root)
    rel_path = rel_path.strip("/")
    if not rel_path:
        return False
    is_dir = (root / rel_path).is_dir()
    if not IgnoreRules(root).is_ignored(rel_path, is_dir):
        return False
    if ".git" in rel_path.split("/") or not (root / ".git").exists():
        return True
    return not _is_tracked(root, rel_path)


def _git_candidates(root: Path) -> list[str] | None:
    """Repository-relative paths git shows, or None when `root` is not inside a git work tree."""
    if not (root / ".git").exists() and not _inside_work_tree(root):
        return None
    try:
        out = git.Git(str(root)).execute(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            env=_GIT_ENV,
            strip_newline_in_stdout=False,
        )
    except (git.GitCommandError, git.GitCommandNotFound, OSError):
        return None
    return [p for p in str(out).split("\0") if p]


def _inside_work_tree(root: Path) -> bool:
    try:
        out = git.Git(str(root)).execute(["git", "rev-parse", "--is-inside-work-tree"], env=_GIT_ENV)
    except (git.GitCommandError, git.GitCommandNotFound, OSError):
        return False
    return str(out).strip() == "true"


def _is_tracked(root: Path, rel_path: str) -> bool:
    try:
        out = git.Git(str(root)).execute(["git", "ls-files", "-z", "--", rel_path], env=_GIT_ENV)
    except (git.GitCommandError, git.GitCommandNotFound, OSError):
        return False
    return bool(str(out).strip("\0"))


def _walk_candidates(root: Path) -> list[str]:
    rules = IgnoreRules(root)
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir
        kept_dirs = []
        for name in sorted(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if name == ".git" or rules.matches(rel, True):
                continue
            if os.path.islink(os.path.join(dirpath, name)):
                found.append(rel)  # reported as a skipped symlink, never followed
                continue
            kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in filenames:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if name != ".git" and not rules.matches(rel, False):
                found.append(rel)
    return found


def _entry_for(root: Path, rel: str, max_file_bytes: int) -> FileEntry | SkippedFile:
    rel = rel.rstrip("/")
    abs_path = root / rel
    try:
        link = os.lstat(abs_path)
    except FileNotFoundError:
        return SkippedFile(rel, "vanished", "listed but no longer on disk")
    except OSError as exc:
        return SkippedFile(rel, "unreadable", exc.strerror or str(exc))
    if stat.S_ISLNK(link.st_mode):
        if not is_within(root, abs_path):
            return SkippedFile(rel, "symlink-outside-root", os.readlink(abs_path))
        if not abs_path.exists():
            return SkippedFile(rel, "vanished", "broken symlink")
        if abs_path.is_dir():
            return SkippedFile(rel, "symlink", "symlink to a directory is not followed")
    if stat.S_ISDIR(link.st_mode):
        return SkippedFile(rel, "submodule", "nested repository is not followed")
    try:
        info = os.stat(abs_path)
    except OSError as exc:
        return SkippedFile(rel, "unreadable", exc.strerror or str(exc))
    if not stat.S_ISREG(info.st_mode):
        return SkippedFile(rel, "not-a-file")
    if info.st_size > max_file_bytes:
        return SkippedFile(rel, "too-large", f"{info.st_size} bytes > {max_file_bytes}")
    if not os.access(abs_path, os.R_OK):
        return SkippedFile(rel, "unreadable", "permission denied")
    return FileEntry(rel, abs_path, info.st_size, info.st_mtime_ns)
