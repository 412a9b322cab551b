"""The training corpus: permissively licensed Python source installed on the machine.

A "repository" is one top-level package directory (of the standard library or of one installed
distribution); the standard library's single-file modules form one repository named "stdlib".
Vendored copies (`_vendor/`, `vendored/`) are skipped: their licences are not their host's.
Whole packages listed in HOLDOUT are kept out of training and used for evaluation.

    python training/corpus.py --summary     # print repositories, licences and sizes
    python training/corpus.py --notice RUN/corpus.json > codepager/default_model/NOTICE
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as metadata
import json
import re
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

HOLDOUT = ("click", "jinja2", "rich", "werkzeug", "requests", "httpx", "pyparsing")
MAX_FILE_BYTES = 300_000
MAX_LINE_CHARS = 1_000
SKIPPED_DIRS = {"__pycache__", "_vendor", "vendor", "vendored", "_vendored", "site-packages", "dist-packages"}
STDLIB_SKIPPED = {"test", "idlelib", "lib2to3", "turtledemo", "ensurepip", "tkinter"}

_DENY = re.compile(r"GPL|MPL|Mozilla|EPL|Eclipse|CDDL|Proprietary|Commercial|SSPL|BUSL|Non-?commercial", re.I)
_ALLOW = re.compile(
    r"\bMIT\b|MIT-0|MIT-CMU|\bBSD|0BSD|Apache|\bASL\b|\bPSF|Python Software Foundation|CNRI|\bISC\b|"
    r"Unlicense|Zlib|CC0|Public Domain|\bHPND\b",
    re.I,
)


@dataclass(frozen=True, slots=True)
class Repository:
    name: str  # what the prompt calls it: the top-level package directory's name
    distribution: str  # "python-stdlib" or the installed distribution's name
    license: str
    root: Path
    files: tuple[str, ...] = field(default=())  # paths relative to root's parent, '/'-separated


def license_of(dist: metadata.Distribution) -> str:
    """One short line naming the distribution's licence, as its metadata states it."""
    meta = dist.metadata
    expression = (meta.get("License-Expression") or "").strip()
    classifiers = [
        c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License")
    ]
    free_text = (meta.get("License") or "").strip()
    parts = [expression] if expression else []
    parts += classifiers
    if not parts and free_text:
        parts.append(free_text.splitlines()[0][:80])
    return "; ".join(dict.fromkeys(p for p in parts if p)) or "UNKNOWN"


def is_permissive(dist: metadata.Distribution) -> bool:
    meta = dist.metadata
    short = [meta.get("License-Expression") or ""]
    short += [c for c in meta.get_all("Classifier") or [] if c.startswith("License")]
    free_text = meta.get("License") or ""
    if len(free_text) <= 120:
        short.append(free_text)
    text = " ".join(short)
    if _DENY.search(text):
        return False
    return bool(_ALLOW.search(text) or _ALLOW.search(free_text[:300]))


def _usable(path: Path) -> bool:
    try:
        size = path.stat().st_size
    except OSError:
        return False
    return 0 < size <= MAX_FILE_BYTES


def _py_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root] if _usable(root) else []
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(p in SKIPPED_DIRS for p in parts[:-1]) or not _usable(path):
            continue
        found.append(path)
    return found


def stdlib_repositories() -> list[Repository]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    repos, singles = [], []
    for entry in sorted(stdlib.iterdir()):
        if entry.name in STDLIB_SKIPPED or entry.name in SKIPPED_DIRS or entry.name.startswith("."):
            continue
        if entry.is_dir() and (entry / "__init__.py").exists():
            repos.append(_repository(entry.name, "python-stdlib", "PSF-2.0", entry, _py_files(entry)))
        elif entry.suffix == ".py" and _usable(entry):
            singles.append(entry)
    repos.append(_repository("stdlib", "python-stdlib", "PSF-2.0", stdlib, singles))
    return repos


def _repository(name: str, dist: str, license: str, root: Path, files: list[Path]) -> Repository:
    base = root if root.is_dir() and name == "stdlib" else root.parent
    rel = tuple(p.relative_to(base).as_posix() for p in files)
    return Repository(name=name, distribution=dist, license=license, root=base, files=rel)


def _top_levels(dist: metadata.Distribution) -> list[str]:
    tops = set()
    for file in dist.files or ():
        parts = Path(file).parts
        if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".egg-info", ".data")):
            continue
        if str(file).endswith(".py"):
            tops.add(parts[0])
    return sorted(tops)


def site_repositories() -> tuple[list[Repository], list[tuple[str, str]]]:
    """Permissive repositories of installed distributions, and the (name, licence) of those refused."""
    repos, refused, seen = [], [], set()
    dists = sorted(metadata.distributions(), key=lambda d: (d.metadata["Name"] or "").lower())
    for dist in dists:
        name = dist.metadata["Name"] or "?"
        if name.lower() in seen or name.lower() == "codepager":
            continue
        seen.add(name.lower())
        if not is_permissive(dist):
            refused.append((name, license_of(dist)))
            continue
        base = Path(dist.locate_file(""))
        for top in _top_levels(dist):
            root = base / top
            files = _py_files(root)
            if files:
                repos.append(_repository(top.removesuffix(".py"), name, license_of(dist), root, files))
    return repos, refused


def _looks_generated(data: bytes) -> bool:
    return max(map(len, data.split(b"\n"))) > MAX_LINE_CHARS


def deduplicate(repos: Iterable[Repository]) -> list[Repository]:
    """Drop files whose exact content appeared earlier, data-like files, and repositories left empty."""
    seen: set[bytes] = set()
    kept = []
    for repo in repos:
        files = []
        for rel in repo.files:
            data = (repo.root / rel).read_bytes()
            digest = hashlib.sha1(data).digest()
            if digest not in seen and not _looks_generated(data):
                seen.add(digest)
                files.append(rel)
        if files:
            kept.append(Repository(repo.name, repo.distribution, repo.license, repo.root, tuple(files)))
    return kept


def split(repos: list[Repository]) -> tuple[list[Repository], list[Repository]]:
    """(training, held-out) by whole top-level packages."""
    held = [r for r in repos if r.name.lower() in HOLDOUT]
    return [r for r in repos if r.name.lower() not in HOLDOUT], held


def all_repositories() -> tuple[list[Repository], list[tuple[str, str]]]:
    site, refused = site_repositories()
    return deduplicate(stdlib_repositories() + site), refused


def summary(repos: list[Repository]) -> dict:
    by_dist: dict[str, dict] = {}
    for repo in repos:
        size = sum((repo.root / f).stat().st_size for f in repo.files)
        entry = by_dist.setdefault(repo.distribution, {"license": repo.license, "files": 0, "bytes": 0})
        entry["files"] += len(repo.files)
        entry["bytes"] += size
    return by_dist


def notice_text(manifest: dict) -> str:
    """The NOTICE shipped with the model, from a training run's corpus.json."""
    lines = [
        "codepager default model: training corpus",
        "",
        "The model's weights were trained on the Python source files (.py) of the following distributions,",
        "as installed on the training machine, each under the licence its package metadata declares.",
        "Vendored third-party copies inside them (_vendor/, vendored/) were excluded. The model ships no",
        "source code of these packages. Held-out packages (evaluation only) are listed last.",
        "",
        f"{'distribution':40s} {'files':>6s} {'MB':>7s}  licence",
    ]
    for title, key in (("trained on", "train"), ("held out (not trained on)", "held_out")):
        lines += ["", f"# {title}"]
        for dist, entry in sorted(manifest[key].items(), key=lambda kv: kv[0].lower()):
            lines.append(f"{dist:40s} {entry['files']:6d} {entry['bytes'] / 2**20:7.2f}  {entry['license']}")
    lines += ["", "# excluded for their licence (not permissive, or not stated)"]
    lines += [f"{name:40s} {lic}" for name, lic in manifest["refused"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", action="store_true")
    parser.add_argument("--notice", type=Path, help="print the NOTICE for this corpus.json and exit")
    args = parser.parse_args()
    if args.notice:
        print(notice_text(json.loads(args.notice.read_text())), end="")
        return
    repos, refused = all_repositories()
    train, held = split(repos)
    if args.summary:
        print(json.dumps({"train": summary(train), "held_out": summary(held), "refused": refused}, indent=1))


if __name__ == "__main__":
    main()
