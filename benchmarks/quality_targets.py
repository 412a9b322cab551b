"""Cross-file completion targets in the style of CrossCodeEval, from packages available offline.

A repository = one installed top-level package (from this interpreter's site-packages), its .py
files copied into a temporary git repository. A target = a line that references a name whose
definition the symbol table resolves to ANOTHER file of the same repository; the cursor sits at
the start of the line's code, the line's code is what the model must write, and the rest of the
file (after the line) is the FIM suffix.
"""

from __future__ import annotations

import random
import shutil
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import git

from codepager.indexer.index import RepositoryIndex

SKIP_PREFIXES = ("import ", "from ", "def ", "class ", "@", "#", '"', "'", "async def ")


@dataclass(frozen=True, slots=True)
class Target:
    repo: str
    path: str
    line: int  # 0-based
    column: int  # 0-based: where the line's code starts
    expected: str  # the line's code
    buffer: str  # the file with the line's code cut out
    symbol: str  # the cross-file name the line uses
    defined_in: str


def copy_package(name: str, destination: Path) -> Path:
    """site-packages/<name> -> destination/<name>/<name> (.py files only) as a git repository."""
    source = Path(sysconfig.get_paths()["purelib"]) / name
    if not source.is_dir():
        raise SystemExit(f"package {name} is not installed in {source.parent}")
    root = destination / name
    for file in sorted(source.rglob("*.py")):
        if "__pycache__" in file.parts:
            continue
        target = root / name / file.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)
    git.Repo.init(root)
    return root


def find_targets(index: RepositoryIndex, repo: str, per_repo: int, rng: random.Random,
                 min_chars: int = 8, max_chars: int = 100) -> list[Target]:
    candidates: list[Target] = []
    for record in sorted(index.store.files(), key=lambda r: r.path):
        if record.skip_reason or not record.path.endswith(".py"):
            continue
        text = (index.root / record.path).read_text(encoding="utf-8", errors="replace")
        lines = text.split("\n")
        seen: set[int] = set()
        for ref in index.symbols.references_in(record.path):
            if ref.line in seen or ref.line < 5 or ref.line >= len(lines):
                continue
            code = lines[ref.line].strip()
            if not min_chars <= len(code) <= max_chars or code.startswith(SKIP_PREFIXES):
                continue
            definitions = index.symbols.resolve(record.path, ref.name, ref.line)
            if not definitions or definitions[0].path == record.path:
                continue
            seen.add(ref.line)
            candidates.append(_target(repo, record.path, text, ref.line, ref.name, definitions[0].path))
    rng.shuffle(candidates)
    return sorted(candidates[:per_repo], key=lambda t: (t.path, t.line))


def _target(repo: str, path: str, text: str, line: int, symbol: str, defined_in: str) -> Target:
    lines = text.split("\n")
    code_line = lines[line]
    column = len(code_line) - len(code_line.lstrip())
    start = sum(len(ln) + 1 for ln in lines[:line])
    buffer = text[: start + column] + text[start + len(code_line):]
    return Target(repo, path, line, column, code_line.strip(), buffer, symbol, defined_in)


