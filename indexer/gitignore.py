"""Gitignore rules without git: pattern compiler and a per-directory rule set.

Used to walk a directory that is not a git repository and to answer the watcher's
"is this path ignored?" quickly. Semantics follow gitignore(5): blank lines and `#` comments
skipped, `!` negates, a trailing `/` matches directories only, a pattern with a `/` before its
end is anchored to the directory of its ignore file, `*`/`?`/`[...]` never cross `/`, and `**`
spans directories. The last matching pattern wins; deeper ignore files win over shallower ones;
nothing inside an ignored directory can be re-included.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class IgnorePattern:
    base: str  # directory of the ignore file, repository-relative ("" for the root)
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool
    anchored: bool  # match the path below `base`, not just the last component

    def matches(self, rel_path: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        if self.base:
            if not rel_path.startswith(self.base + "/"):
                return False
            rel_path = rel_path[len(self.base) + 1 :]
        subject = rel_path if self.anchored else rel_path.rsplit("/", 1)[-1]
        return self.regex.fullmatch(subject) is not None


def parse_pattern(line: str, base: str = "") -> IgnorePattern | None:
    """One line of an ignore file, or None for blanks and comments."""
    line = line.rstrip("\n").rstrip("\r")
    if not line or line.startswith("#"):
        return None
    line = _strip_trailing_spaces(line)
    negated = line.startswith("!")
    if negated or line.startswith(("\\!", "\\#")):
        line = line[1:]
    dir_only = line.endswith("/") and not line.endswith("\\/")
    if dir_only:
        line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    return IgnorePattern(base, re.compile(glob_to_regex(line)), negated, dir_only, anchored)


def _strip_trailing_spaces(line: str) -> str:
    stripped = line.rstrip(" ")
    if stripped.endswith("\\") and len(stripped) < len(line):
        return stripped + " "  # "\ " keeps one escaped space
    return stripped


def glob_to_regex(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                at_start = i == 0 or pattern[i - 1] == "/"
                at_end = i + 2 == n or pattern[i + 2] == "/"
                if at_start and at_end:
                    if i + 2 == n:
                        out.append(".*")
                        i += 2
                    else:
                        out.append("(?:.*/)?")
                        i += 3
                    continue
                i += 1  # "**" inside a component acts as "*"
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = _class_end(pattern, i)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _class_end(pattern: str, start: int) -> int:
    j = start + 1
    if j < len(pattern) and pattern[j] in "!^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    end = pattern.find("]", j)
    return end


class IgnoreRules:
    """All ignore files of one tree: `.git/info/exclude`, then every `.gitignore`, loaded lazily."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_dir: dict[str, list[IgnorePattern]] = {}
        self._global = _read_patterns(root / ".git" / "info" / "exclude", "")

    def patterns_for(self, rel_dir: str) -> list[IgnorePattern]:
        """Patterns of the `.gitignore` directly in `rel_dir` ("" for the root)."""
        if rel_dir not in self._by_dir:
            path = self.root / rel_dir / ".gitignore" if rel_dir else self.root / ".gitignore"
            self._by_dir[rel_dir] = _read_patterns(path, rel_dir)
        return self._by_dir[rel_dir]

    def matches(self, rel_path: str, is_dir: bool) -> bool:
        """Whether `rel_path` itself is ignored, assuming its parent directories are not."""
        ignored = False
        for pattern in self._applicable(rel_path):
            if pattern.matches(rel_path, is_dir):
                ignored = not pattern.negated
        return ignored

    def is_ignored(self, rel_path: str, is_dir: bool) -> bool:
        """Whether `rel_path` or any directory above it is ignored (or lies in `.git`)."""
        parts = rel_path.split("/")
        if ".git" in parts:
            return True
        for depth in range(1, len(parts)):
            if self.matches("/".join(parts[:depth]), True):
                return True
        return self.matches(rel_path, is_dir)

    def _applicable(self, rel_path: str) -> list[IgnorePattern]:
        patterns = list(self._global)
        parts = rel_path.split("/")[:-1]
        for depth in range(len(parts) + 1):
            patterns.extend(self.patterns_for("/".join(parts[:depth])))
        return patterns


def _read_patterns(path: Path, base: str) -> list[IgnorePattern]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return []
    found = (parse_pattern(line, base) for line in lines)
    return [p for p in found if p is not None]


def is_within(root: Path, target: str | os.PathLike[str]) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(target)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)
