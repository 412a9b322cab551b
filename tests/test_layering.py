"""Imports point one way: lsp -> codepager -> {indexer, kernels}; indexer never imports torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# folder -> import prefix its modules have
PACKAGES = {"codepager": "codepager", "indexer": "codepager.indexer", "kernels": "codepager.kernels",
            "lsp": "codepager.lsp"}
LAYER_OF = {"codepager.lsp": "lsp", "codepager.indexer": "indexer", "codepager.kernels": "kernels"}
ALLOWED = {
    "lsp": {"lsp", "core", "indexer", "kernels"},
    "core": {"core", "indexer", "kernels"},
    "indexer": {"indexer"},
    "kernels": {"kernels"},
}


def layer_of(module: str) -> str | None:
    if module != "codepager" and not module.startswith("codepager."):
        return None
    for prefix, layer in LAYER_OF.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return "core"


def module_name(folder: str, path: Path) -> str:
    rel = path.relative_to(ROOT / folder).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([PACKAGES[folder], *parts])


def imported_modules(path: Path, own: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = own.split(".")
                is_pkg = path.name == "__init__.py"
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                found.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                found.add(node.module)
    return found


def all_sources():
    for folder in PACKAGES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield folder, path


def test_imports_point_one_way() -> None:
    problems = []
    for folder, path in all_sources():
        own = module_name(folder, path)
        own_layer = layer_of(own)
        for mod in imported_modules(path, own):
            target = layer_of(mod)
            if target is not None and target not in ALLOWED[own_layer]:
                problems.append(f"{path.relative_to(ROOT)} ({own_layer}) imports {mod} ({target})")
    assert not problems, "\n".join(problems)


def test_only_lsp_imports_pygls() -> None:
    offenders = []
    for folder, path in all_sources():
        if folder == "lsp":
            continue
        mods = imported_modules(path, module_name(folder, path))
        if any(m == "pygls" or m.startswith("pygls.") for m in mods):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders


def test_indexer_does_not_import_torch() -> None:
    code = (
        "import sys, pkgutil, importlib, codepager.indexer as ix\n"
        "for m in pkgutil.walk_packages(ix.__path__, 'codepager.indexer.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_layering_check_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from codepager.engine import llm_engine\nimport codepager.lsp.server\n")
    mods = imported_modules(bad, "codepager.indexer.bad")
    layers = {layer_of(m) for m in mods}
    assert layers == {"core", "lsp"}
    assert not layers <= ALLOWED["indexer"]
