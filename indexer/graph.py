"""File-level reference graph with Aider-like weights and personalised PageRank, kept up to date per file.

An edge A -> B says A uses B: A references a name B defines (weight from the name, see name_weight)
or A imports B (IMPORT_WEIGHT). Updating a file only recomputes the contributions of the names it
defines or references; PageRank warm-starts from the last result for the same focus files.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter, OrderedDict, defaultdict

from codepager.indexer.store import SEP, IndexStore
from codepager.indexer.symbols import SymbolTable

IMPORT_WEIGHT = 1.0
MAX_DEFINERS = 100  # a name defined in more files than this says nothing about who uses whom
DAMPING = 0.85
TOLERANCE = 1e-6
MAX_ITERATIONS = 100
CACHE_ENTRIES = 32
_SNAKE_OR_CAMEL = re.compile(r"^(?=.*_)[a-z0-9_]+$|^(?=.*[a-z])(?=.*[A-Z])[A-Za-z0-9]+$")


def name_weight(name: str, definer_count: int) -> float:
    """Aider's heuristics: long specific names matter, private and ubiquitous ones little."""
    weight = 1.0
    if len(name) >= 8 and _SNAKE_OR_CAMEL.match(name):
        weight *= 10
    if name.startswith("_"):
        weight *= 0.1
    if definer_count > 5:
        weight *= 0.1
    return weight


class ReferenceGraph:
    def __init__(self, store: IndexStore, symbols: SymbolTable):
        self.store = store
        self.symbols = symbols
        self.lock = threading.RLock()
        self.version = 0  # bumped whenever an edge weight changes
        self._synced_generation = -1
        self._ranks: OrderedDict[frozenset[str], tuple[int, dict[str, float]]] = OrderedDict()

    # -- maintenance -----------------------------------------------------------------------------

    def _reset(self) -> None:
        self.definers: dict[str, set[str]] = defaultdict(set)
        self.referencers: dict[str, Counter[str]] = defaultdict(Counter)
        self.file_defs: dict[str, set[str]] = {}
        self.file_refs: dict[str, Counter[str]] = {}
        self.name_edges: dict[str, dict[tuple[str, str], float]] = {}
        self.weights: dict[str, dict[str, float]] = defaultdict(dict)  # src -> dst -> weight
        self.imports: dict[str, set[str]] = {}

    def rebuild(self) -> None:
        """Load the whole graph from the store (first use, or after another process wrote)."""
        with self.lock:
            generation = self.store.generation()
            self._reset()
            for key, _ in self.store.all_entries("symbols"):
                name, path = key.decode().split(SEP, 1)
                self.definers[name].add(path)
                self.file_defs.setdefault(path, set()).add(name)
            for key, raw in self.store.all_entries("references"):
                name, path = key.decode().split(SEP, 1)
                count = len(json.loads(raw))
                self.referencers[name][path] = count
                self.file_refs.setdefault(path, Counter())[name] = count
            for name in list(self.referencers):
                self._recompute_name(name)
            for record in self.store.files():
                self._set_imports(record.path, set(self.symbols.imports_of(record.path)))
            self.version += 1
            self._synced_generation = generation

    @property
    def is_loaded(self) -> bool:
        return self._synced_generation >= 0

    def ensure_current(self) -> None:
        if self.store.generation() != self._synced_generation:
            self.rebuild()

    def update_file(self, path: str) -> None:
        """Re-read one file's definitions, references and imports (after the index wrote it)."""
        with self.lock:
            if self._synced_generation < 0:
                self.rebuild()
                return
            record = self.store.file(path)
            new_defs = set(record.def_names) if record else set()
            new_refs: Counter[str] = Counter()
            for ref in self.store.references_in(path) if record else ():
                new_refs[ref.name] += 1
            old_defs = self.file_defs.pop(path, set())
            old_refs = self.file_refs.pop(path, Counter())
            for name in old_defs:
                self.definers[name].discard(path)
            for name in old_refs:
                self.referencers[name].pop(path, None)
            if record:
                self.file_defs[path] = new_defs
                self.file_refs[path] = new_refs
            for name in new_defs:
                self.definers[name].add(path)
            for name, count in new_refs.items():
                self.referencers[name][path] = count
            for name in old_defs | new_defs | set(old_refs) | set(new_refs):
                self._recompute_name(name)
            existed = path in self.imports
            self._set_imports(path, set(self.symbols.imports_of(path)) if record else set())
            if existed != (record is not None):  # added/removed: others' imports may now (not) resolve
                for importer in self.symbols.importers_of(path):
                    if importer in self.imports:
                        self._set_imports(importer, set(self.symbols.imports_of(importer)))
            self.version += 1
            self._synced_generation = self.store.generation()

    def _recompute_name(self, name: str) -> None:
        for edge, weight in self.name_edges.pop(name, {}).items():
            self._add_weight(*edge, -weight)
        definers, referencers = self.definers.get(name, set()), self.referencers.get(name, Counter())
        if not definers or not referencers or len(definers) > MAX_DEFINERS:
            return
        base = name_weight(name, len(definers))
        edges = {}
        for src, count in referencers.items():
            for dst in definers:
                if src != dst:
                    edges[(src, dst)] = base * math.sqrt(count)
                    self._add_weight(src, dst, edges[(src, dst)])
        self.name_edges[name] = edges

    def _set_imports(self, path: str, targets: set[str]) -> None:
        for dst in self.imports.pop(path, set()):
            self._add_weight(path, dst, -IMPORT_WEIGHT)
        if targets or self.store.file(path) is not None:
            self.imports[path] = targets
        for dst in targets:
            self._add_weight(path, dst, IMPORT_WEIGHT)

    def _add_weight(self, src: str, dst: str, delta: float) -> None:
        out = self.weights[src]
        weight = out.get(dst, 0.0) + delta
        if weight > 1e-9:
            out[dst] = weight
        else:
            out.pop(dst, None)
            if not out:
                del self.weights[src]

    # -- queries ---------------------------------------------------------------------------------

    def edges(self) -> dict[str, dict[str, float]]:
        self.ensure_current()
        with self.lock:
            return {src: dict(out) for src, out in self.weights.items()}

    def pagerank(self, focus: set[str] | frozenset[str] = frozenset()) -> dict[str, float]:
        """Personalised PageRank over the files (uniform when no focus file is known)."""
        self.ensure_current()
        with self.lock:
            key = frozenset(focus)
            cached = self._ranks.get(key)
            if cached is not None and cached[0] == self.version:
                self._ranks.move_to_end(key)
                return cached[1]
            ranks = self._power_iteration(key, start=cached[1] if cached else None)
            self._ranks[key] = (self.version, ranks)
            self._ranks.move_to_end(key)
            while len(self._ranks) > CACHE_ENTRIES:
                self._ranks.popitem(last=False)
            return ranks

    def _power_iteration(self, focus: frozenset[str], start: dict[str, float] | None) -> dict[str, float]:
        nodes = set(self.file_defs) | set(self.file_refs) | set(self.imports) | set(self.weights)
        if not nodes:
            return {}
        order = sorted(nodes)
        index = {p: i for i, p in enumerate(order)}
        n = len(order)
        known_focus = [index[p] for p in focus if p in index]
        personal = [0.0] * n
        for i in known_focus or range(n):
            personal[i] = 1.0 / (len(known_focus) or n)
        out_edges = []  # per source: [(dst index, normalised weight)]
        for src in order:
            out = self.weights.get(src, {})
            total = sum(out.values())
            out_edges.append([(index[d], w / total) for d, w in out.items()] if total else [])
        rank = [start.get(p, 0.0) for p in order] if start else list(personal)
        norm = sum(rank) or 1.0
        rank = [r / norm for r in rank] if sum(rank) else list(personal)
        for _ in range(MAX_ITERATIONS):
            new = [0.0] * n
            dangling = 0.0
            for i, edges in enumerate(out_edges):
                r = rank[i]
                if not edges:
                    dangling += r
                    continue
                r *= DAMPING
                for j, w in edges:
                    new[j] += r * w
            teleport = 1.0 - DAMPING + DAMPING * dangling
            new = [v + teleport * p for v, p in zip(new, personal, strict=True)]
            delta = sum(abs(a - b) for a, b in zip(new, rank, strict=True))
            rank = new
            if delta < TOLERANCE:
                break
        return dict(zip(order, rank, strict=True))
