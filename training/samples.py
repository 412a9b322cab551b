"""Repository-level training samples in the prompt format codepager's context assembler produces.

    <|repo_name|>{repo}\\n<|file_sep|>{path}\\n{segment}\\n ... <|file_sep|>{current}\\n
    <|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>{middle}<|endoftext|>     (FIM)
    <|file_sep|>{current}\\n{file text}<|endoftext|>                                     (left to right)

Context segments come from the same repository: outlines of the files the current file imports,
then 20-line windows of nearby files most similar (identifier Jaccard) to the lines before the
cursor, and sometimes the definition of a name the middle uses. Everything is drawn from a
random.Random the caller seeds, so a sample set is a function of (seed, repository, file).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import posixpath
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from python_segments import FileView, view_file
from tokenizer_train import EOS, FILE_SEP, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, REPO_NAME, SPECIAL_TOKENS

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYWORD_TEXT = """and as assert async await break class continue def del elif else except finally for from
global if import in is lambda nonlocal not or pass raise return try while with yield self None True False"""
_KEYWORDS = frozenset(_KEYWORD_TEXT.split())


@dataclass(frozen=True, slots=True)
class SampleConfig:
    fim_rate: float = 0.5
    no_context_rate: float = 0.2
    mid_line_rate: float = 0.2  # FIM holes that start inside a line (the cursor after typed text)
    context_chars: tuple[int, int] = (1200, 4200)  # drawn uniformly per sample
    segment_chars: int = 1600
    prefix_chars: int = 3000
    suffix_chars: int = 900
    ltr_chars: int = 5000
    window_lines: int = 20
    window_stride: int = 10
    neighbor_files: int = 12
    chars_per_sample: int = 4000  # one sample per this many characters of a file, at most max_per_file
    max_per_file: int = 6

    def __post_init__(self) -> None:
        for name in ("fim_rate", "no_context_rate", "mid_line_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if self.context_chars[0] > self.context_chars[1] or self.window_stride > self.window_lines:
            raise ValueError("context_chars must be (low, high) and window_stride <= window_lines")


def identifiers(text: str) -> set[str]:
    return {m for m in _IDENTIFIER.findall(text) if len(m) > 1 and m not in _KEYWORDS}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


@dataclass
class RepoView:
    """One repository's files, parsed on first use.

    With a view_cache directory, parsed files are shared between processes through it: a file is
    parsed once per run instead of once per worker and per sample unit."""

    name: str
    root: Path
    files: tuple[str, ...]
    view_cache: Path | None = None
    _views: dict[str, FileView | None] = field(default_factory=dict)
    _texts: dict[str, str | None] = field(default_factory=dict)
    _windows: dict[str, list[tuple[int, str, set[str]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._paths = set(self.files)
        self._by_dir: dict[str, list[str]] = {}
        for path in self.files:
            self._by_dir.setdefault(posixpath.dirname(path), []).append(path)

    def text(self, path: str) -> str | None:
        """The file's text; None if unreadable, blank or holding a special token's text."""
        if path not in self._texts:
            try:
                text: str | None = (self.root / path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = None
            if text is not None and (not text.strip() or any(t in text for t in SPECIAL_TOKENS)):
                text = None
            self._texts[path] = text
        return self._texts[path]

    def view(self, path: str) -> FileView | None:
        """The parsed file (parsing is the expensive part: only for current and imported files)."""
        if path not in self._views:
            self._views[path] = self._cached_view(path) if self.view_cache else self._parse(path)
        return self._views[path]

    def _parse(self, path: str) -> FileView | None:
        text = self.text(path)
        return view_file(path, text) if text is not None else None

    def _cached_view(self, path: str) -> FileView | None:
        key = hashlib.sha1(str(self.root / path).encode()).hexdigest()
        cached = self.view_cache / f"{key}.pkl"
        try:
            return pickle.loads(cached.read_bytes())
        except (OSError, EOFError, pickle.UnpicklingError):
            pass
        view = self._parse(path)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(pickle.dumps(view, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(partial, cached)  # atomic: readers see a whole file or none
        return view

    def resolve(self, path: str, module: str, names: tuple[str, ...], level: int) -> list[str]:
        """Repository paths an import of the file at `path` may refer to."""
        if level:
            base = posixpath.dirname(path)
            for _ in range(level - 1):
                base = posixpath.dirname(base)
            stem = posixpath.join(base, *module.split(".")) if module else base
        else:
            stem = "/".join(module.split("."))
        found = [c for c in (stem + ".py", stem + "/__init__.py") if c in self._paths]
        found += [c for n in names if (c := f"{stem}/{n}.py") in self._paths]
        return [f for f in dict.fromkeys(found) if f != path]

    def imported(self, view: FileView) -> list[str]:
        out: dict[str, None] = {}
        for imp in view.imports:
            for target in self.resolve(view.path, imp.module, imp.names, imp.level):
                out.setdefault(target, None)
        return list(out)

    def neighbors(self, path: str, rng: random.Random, limit: int) -> list[str]:
        near = [f for f in self._by_dir.get(posixpath.dirname(path), ()) if f != path]
        return rng.sample(near, limit) if len(near) > limit else near

    def windows(self, path: str, lines: int, stride: int) -> list[tuple[int, str, set[str]]]:
        if path not in self._windows:
            text = self.text(path)
            rows = text.splitlines(keepends=True) if text else []
            cut = []
            for start in range(0, max(len(rows) - lines + stride, 1), stride):
                chunk = "".join(rows[start : start + lines])
                ids = identifiers(chunk)
                if ids:
                    cut.append((start, chunk, ids))
            self._windows[path] = cut
        return self._windows[path]


def _clip_lines(text: str, limit: int) -> str:
    """At most `limit` characters of text, cut at a line end."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    return text[: cut + 1] if cut > 0 else text[:limit]


def select_context(
    repo: RepoView, view: FileView, before: str, middle: str, rng: random.Random, cfg: SampleConfig,
    budget: int, outlines: int | None = None, windows: int | None = None,
) -> list[tuple[str, str]]:
    """(path, text) context segments for a cursor after `before`; `middle` may name definitions to add.

    outlines / windows fix how many of each to take (else drawn from rng)."""
    chosen: list[tuple[str, str]] = []
    used = 0

    def add(path: str, text: str) -> None:
        nonlocal used
        text = _clip_lines(text, min(cfg.segment_chars, budget - used))
        if text.strip() and used + len(text) <= budget:
            chosen.append((path, text))
            used += len(text)

    imported = repo.imported(view)
    if outlines is None:
        outlines = rng.choice((0, 1, 1, 2, 2, 3))
    for path in rng.sample(imported, min(len(imported), outlines)):
        other = repo.view(path)
        if other and other.outline:
            add(path, other.outline)
    query = identifiers("\n".join(before.splitlines()[-cfg.window_lines :]))
    candidates = []
    size = len(query)
    for path in dict.fromkeys(repo.neighbors(view.path, rng, cfg.neighbor_files) + imported):
        for start, chunk, ids in repo.windows(path, cfg.window_lines, cfg.window_stride):
            inter = len(query & ids)  # jaccard(query, ids), inlined: this loop is the samples' hot spot
            if inter:
                candidates.append((inter / (size + len(ids) - inter), path, start, chunk))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    for _, path, _, chunk in candidates[: windows if windows is not None else rng.choice((1, 2, 3))]:
        add(path, chunk)
    if middle and rng.random() < 0.5:
        wanted = identifiers(middle)
        for imp in view.imports:
            if not wanted.intersection(imp.names):
                continue
            for path in repo.resolve(view.path, imp.module, imp.names, imp.level):
                other = repo.view(path)
                for sym in other.symbols if other else ():
                    if sym.name in wanted:
                        add(path, sym.text)
                        break
    return chosen


def render(repo_name: str | None, context: list[tuple[str, str]], current: str, body: str) -> str:
    head = f"{REPO_NAME}{repo_name}\n" if repo_name is not None else ""
    blocks = "".join(f"{FILE_SEP}{p}\n{t if t.endswith(chr(10)) else t + chr(10)}" for p, t in context)
    return f"{head}{blocks}{FILE_SEP}{current}\n{body}"


def fim_body(prefix: str, suffix: str, middle: str | None = None) -> str:
    tail = f"{middle}{EOS}" if middle is not None else ""
    return f"{FIM_PREFIX}{prefix}{FIM_SUFFIX}{suffix}{FIM_MIDDLE}{tail}"


def cut_fim(text: str, rng: random.Random, cfg: SampleConfig) -> tuple[str, str, str] | None:
    """(prefix, middle, suffix): the middle is 1-3 whole lines, sometimes starting inside its first line."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, ln in enumerate(lines) if ln.strip()]
    if not starts:
        return None
    i = rng.choice(starts)
    k = rng.choice((1, 1, 1, 1, 2, 3))
    first = lines[i]
    cut = 0
    if rng.random() < cfg.mid_line_rate:
        indent = len(first) - len(first.lstrip())
        body_end = len(first.rstrip("\n"))
        if body_end - indent > 2:
            cut = rng.randrange(indent + 1, body_end)
    before = "".join(lines[:i]) + first[:cut]
    middle = first[cut:] + "".join(lines[i + 1 : i + k])
    after = "".join(lines[i + k :])
    prefix = before[-cfg.prefix_chars :]
    if len(prefix) < len(before):
        prefix = prefix[prefix.find("\n") + 1 :]
    return prefix, middle, _clip_lines(after, cfg.suffix_chars)


def samples_for_file(repo: RepoView, path: str, rng: random.Random, cfg: SampleConfig) -> list[str]:
    view = repo.view(path)
    if view is None:
        return []
    count = min(cfg.max_per_file, max(1, round(len(view.text) / cfg.chars_per_sample)))
    out = []
    for _ in range(count):
        with_context = rng.random() >= cfg.no_context_rate
        header = repo.name if with_context or rng.random() < 0.5 else None
        budget = rng.randint(*cfg.context_chars)
        if rng.random() < cfg.fim_rate:
            pieces = cut_fim(view.text, rng, cfg)
            if pieces is None:
                continue
            prefix, middle, suffix = pieces
            context = select_context(repo, view, prefix, middle, rng, cfg, budget) if with_context else []
            out.append(render(header, context, path, fim_body(prefix, suffix, middle)))
        else:
            lines = view.text.splitlines(keepends=True)
            start = 0 if rng.random() < 0.5 or len(view.text) <= cfg.ltr_chars else rng.randrange(len(lines))
            chunk = _clip_lines("".join(lines[start:]), cfg.ltr_chars)
            before = "".join(lines[max(0, start - cfg.window_lines) : start]) or chunk[:800]
            context = select_context(repo, view, before, "", rng, cfg, budget) if with_context else []
            out.append(render(header, context, path, f"{chunk}{EOS}"))
    return out


def samples_for_unit(repo: RepoView, paths: list[str], seed: int, cfg: SampleConfig) -> list[str]:
    """All samples of some files of one repository, drawn from a generator seeded by (seed, repo, file)."""
    out = []
    for path in paths:
        rng = random.Random(f"{seed}:{repo.name}:{path}")
        out += samples_for_file(repo, path, rng, cfg)
    return out
