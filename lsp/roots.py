"""Workspace roots: which repository a URI belongs to, and refusing everything outside them.

Only `file:` URIs inside a root are served; paths are resolved (symlinks, `..`) before the check,
so nothing outside the roots is ever read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from pygls.uris import to_fs_path


class OutsideWorkspace(ValueError):
    """A URI that is not a file, or a file outside every workspace root."""


@dataclass(frozen=True, slots=True)
class Located:
    root: Path
    path: Path  # absolute, resolved
    relative: str  # posix path relative to root


class WorkspaceRoots:
    def __init__(self, roots: list[Path] | None = None) -> None:
        self.roots: list[Path] = []
        for root in roots or []:
            self.add(root)

    def add(self, root: Path) -> None:
        resolved = root.resolve()
        if resolved not in self.roots:
            self.roots.append(resolved)

    def remove(self, root: Path) -> None:
        resolved = root.resolve()
        if resolved in self.roots:
            self.roots.remove(resolved)

    def __bool__(self) -> bool:
        return bool(self.roots)

    def locate(self, uri: str) -> Located:
        """The root holding `uri` (the innermost one when roots nest); OutsideWorkspace otherwise."""
        path = path_of_uri(uri)
        resolved = path.resolve()
        best: Path | None = None
        for root in self.roots:
            if resolved.is_relative_to(root) and (best is None or len(root.parts) > len(best.parts)):
                best = root
        if best is None:
            if not self.roots:
                raise OutsideWorkspace(f"{uri} is refused: the client opened no workspace folder")
            roots = ", ".join(map(str, self.roots))
            raise OutsideWorkspace(f"{uri} is outside the workspace roots ({roots})")
        return Located(best, resolved, resolved.relative_to(best).as_posix())


def path_of_uri(uri: str) -> Path:
    if not isinstance(uri, str) or urlparse(uri).scheme != "file":
        raise OutsideWorkspace(f"{uri!r} is not a file: URI; only files in the workspace are served")
    fs_path = to_fs_path(uri)
    if not fs_path:
        raise OutsideWorkspace(f"{uri!r} is not a valid file: URI")
    path = Path(fs_path)
    if not path.is_absolute():
        raise OutsideWorkspace(f"{uri!r} does not name an absolute path")
    return path


def root_of_folder_uri(uri: str) -> Path | None:
    try:
        return path_of_uri(uri)
    except OutsideWorkspace:
        return None
