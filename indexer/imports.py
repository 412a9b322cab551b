"""Where an import statement may point: candidate keys per language, matched against repository paths.

A key is one of
  "/a/b.py"  exactly this repository path (relative imports, resolved against the importer),
  "a/b.py"   any path equal to it or ending in "/a/b.py" (absolute module paths, includes),
  "a/b/"     any file directly inside a directory ending in "a/b" (Go packages, Java wildcards).
Resolution is best-effort and language-light on purpose: a false candidate costs a lookup.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict

from codepager.indexer.records import Import

JS_EXTS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".d.ts")
JS_LANGS = {"javascript", "typescript", "tsx", "jsx"}


def import_keys(path: str, language: str, imports: tuple[Import, ...] | list[Import]) -> tuple[str, ...]:
    keys: dict[str, None] = {}
    for imp in imports:
        for key in _keys_of(path, language, imp):
            keys.setdefault(key, None)
    return tuple(keys)


def _keys_of(path: str, language: str, imp: Import) -> list[str]:
    module = imp.module.strip().strip("\"'<>`")
    here = posixpath.dirname(path)
    if language == "python":
        return _python_keys(here, module, imp.names)
    if language in JS_LANGS:
        if not module.startswith("."):
            return []
        base = _exact(here, module)
        if base is None:
            return []
        return [base, *(base + ext for ext in JS_EXTS), *(f"{base}/index{ext}" for ext in JS_EXTS)]
    if language == "go":
        parts = [p for p in module.split("/") if p]
        return [("/".join(parts[-2:]) + "/")] if parts else []
    if language == "rust":
        parts = [p for p in module.replace("{", "").split("::") if p and p not in ("crate", "self", "super")]
        parts = [p for p in parts if p.isidentifier()]
        keys = []
        for n in range(len(parts), 0, -1):
            stem = "/".join(parts[:n])
            keys += [stem + ".rs", stem + "/mod.rs"]
        return keys
    if language == "java":
        parts = module.split(".")
        if parts[-1] == "*":
            return ["/".join(parts[:-1]) + "/"]
        return ["/".join(parts) + ".java"] if len(parts) > 1 else []
    if language in ("c", "cpp"):
        if not module:
            return []
        local = _exact(here, "./" + module)
        return [module] + ([local] if local else [])
    return []


def _python_keys(here: str, module: str, names: tuple[str, ...]) -> list[str]:
    dots = len(module) - len(module.lstrip("."))
    rest = module[dots:].replace(".", "/")
    if dots:
        base = here
        for _ in range(dots - 1):
            base = posixpath.dirname(base)
        joined = posixpath.join(base, rest).strip("/")
        package = "/" + joined if joined else ""
        keys = [package + "/__init__.py"] if joined else []
        if rest:
            keys.insert(0, package + ".py")
    else:
        package = rest
        keys = [rest + ".py", rest + "/__init__.py"] if rest else []
    for name in names:
        if name.isidentifier():
            sub = f"{package}/{name}" if package else (f"/{name}" if dots else name)
            keys += [sub + ".py", sub + "/__init__.py"]
    return keys


def _exact(here: str, relative: str) -> str | None:
    joined = posixpath.normpath(posixpath.join(here, relative))
    if joined.startswith(".."):
        return None
    return "/" + joined.lstrip("./") if joined != "." else None


def keys_matching(path: str) -> list[str]:
    """Every key that points at `path` (the reverse of import_keys, used for importers_of)."""
    parts = path.split("/")
    keys = ["/" + path]
    keys += ["/".join(parts[i:]) for i in range(len(parts))]
    dirs = parts[:-1]
    keys += ["/".join(dirs[i:]) + "/" for i in range(len(dirs))]
    return keys


class PathIndex:
    """Repository paths by basename and by directory, to resolve keys to paths."""

    def __init__(self, paths: list[str]):
        self.paths = set(paths)
        self.by_name: dict[str, list[str]] = defaultdict(list)
        self.by_dir: dict[str, list[str]] = defaultdict(list)
        for p in sorted(paths):
            self.by_name[posixpath.basename(p)].append(p)
            self.by_dir[posixpath.dirname(p)].append(p)

    def resolve(self, key: str) -> list[str]:
        if key.startswith("/"):
            return [key[1:]] if key[1:] in self.paths else []
        if key.endswith("/"):
            wanted = key[:-1]
            return [p for d, ps in self.by_dir.items() if d == wanted or d.endswith("/" + wanted) for p in ps]
        return [p for p in self.by_name.get(posixpath.basename(key), ()) if p == key or p.endswith("/" + key)]
