"""SymbolTable: definitions, references and imports of the stored index, and name resolution.

With `overlays`, an open editor buffer replaces its file's stored definitions and references
(in memory only) for lookups and resolution; imports_of / importers_of stay the stored view,
because the reference graph is built from them and is not updated per keystroke."""

from __future__ import annotations

from codepager.indexer.imports import PathIndex, import_keys, keys_matching
from codepager.indexer.overlay import Overlays
from codepager.indexer.records import Definition, Import, Reference
from codepager.indexer.store import IndexStore

# resolve() tiers, best first
NAMED_IMPORT, IMPORTED_FILE, SAME_FILE, ANYWHERE = range(4)


class SymbolTable:
    def __init__(self, store: IndexStore, overlays: Overlays | None = None):
        self.store = store
        self.overlays = overlays if overlays is not None else Overlays()
        self._paths: PathIndex | None = None
        self._paths_generation = -1

    def path_index(self) -> PathIndex:
        generation = self.store.paths_generation()
        if self._paths is None or generation != self._paths_generation:
            self._paths = PathIndex([r.path for r in self.store.files()])
            self._paths_generation = generation
        return self._paths

    def definitions(self, name: str) -> list[Definition]:
        """Definitions whose bare or qualified name is `name` (open buffers win over the disk)."""
        stored = self.store.definitions(name)
        if not self.overlays.paths():
            return stored
        return [d for d in stored if d.path not in self.overlays] + self.overlays.definitions(name)

    def definitions_in(self, path: str) -> list[Definition]:
        overlay = self.overlays.get(path)
        if overlay is not None:
            return sorted(overlay.definitions, key=lambda d: (d.line, d.column))
        return self.store.definitions_in(path)

    def references_to(self, name: str) -> list[Reference]:
        """Who references `name` (bare name as written at the reference; open buffers win)."""
        stored = self.store.references_to(name)
        if not self.overlays.paths():
            return stored
        return [r for r in stored if r.path not in self.overlays] + self.overlays.references_to(name)

    def references_in(self, path: str) -> list[Reference]:
        overlay = self.overlays.get(path)
        if overlay is not None:
            return sorted(overlay.references, key=lambda r: (r.line, r.column))
        return self.store.references_in(path)

    def imports_of(self, path: str) -> list[str]:
        """Repository files that `path` imports (resolved best-effort, see imports.py)."""
        record = self.store.file(path)
        if record is None:
            return []
        paths = self.path_index()
        found: dict[str, None] = {}
        for key in record.import_keys:
            for target in paths.resolve(key):
                if target != path:
                    found.setdefault(target, None)
        return list(found)

    def importers_of(self, path: str) -> list[str]:
        """Repository files whose imports point at `path`."""
        found: dict[str, None] = {}
        for key in keys_matching(path):
            for importer in self.store.importers_by_key(key):
                if importer != path:
                    found.setdefault(importer, None)
        return sorted(found)

    def resolve(self, path: str, name: str, line: int | None = None) -> list[Definition]:
        """Definitions `name` may mean in `path`, best first: files that import it by name, other
        imported files, the same file (nearest the line first), then anywhere else."""
        candidates = self.definitions(name)
        if not candidates and "." in name:
            candidates = self.definitions(name.rsplit(".", 1)[1])
        if not candidates:
            return []
        imported = set(self._imported_by(path))
        named = self._files_importing_name(path, name.split(".")[0]) & imported

        def rank(d: Definition) -> tuple:
            if d.path in named:
                tier = NAMED_IMPORT
            elif d.path in imported:
                tier = IMPORTED_FILE
            elif d.path == path:
                tier = SAME_FILE
            else:
                tier = ANYWHERE
            distance = abs(d.line - line) if (line is not None and d.path == path) else 0
            return (tier, distance, d.path, d.line)

        return sorted(candidates, key=rank)

    def _imported_by(self, path: str) -> list[str]:
        """imports_of, but an open buffer's own imports when `path` has one."""
        overlay = self.overlays.get(path)
        if overlay is None:
            return self.imports_of(path)
        paths = self.path_index()
        found: dict[str, None] = {}
        for key in import_keys(path, overlay.language, overlay.imports):
            for target in paths.resolve(key):
                if target != path:
                    found.setdefault(target, None)
        return list(found)

    def _import_source(self, path: str) -> tuple[str, list[Import]] | None:
        """(language, imports) of the buffer or the stored file."""
        overlay = self.overlays.get(path)
        if overlay is not None:
            return overlay.language, list(overlay.imports)
        record = self.store.file(path)
        return None if record is None else (record.language, self.store.imports_of(path))

    def _files_importing_name(self, path: str, name: str) -> set[str]:
        """Files that `path` imports `name` from (`from m import name`, `import {name} from "./m"`)."""
        source = self._import_source(path)
        if source is None:
            return set()
        language, imports = source
        paths = self.path_index()
        found: set[str] = set()
        for imp in imports:
            if name in imp.names or imp.module.rsplit(".", 1)[-1] == name:
                for key in import_keys(path, language, [imp]):
                    found.update(paths.resolve(key))
        return found
