"""Symbol table, import resolution and the reference graph over hand-written records."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from codepager.indexer.graph import ReferenceGraph, name_weight
from codepager.indexer.imports import PathIndex, import_keys, keys_matching
from codepager.indexer.records import OUTLINE, SYMBOL, Definition, Import, ParsedFile, Reference, Segment
from codepager.indexer.store import FileRecord, IndexStore
from codepager.indexer.symbols import SymbolTable


def make_file(path: str, defs: list[str], refs: list[str] = (), imports: list[Import] = (),
              language: str = "python") -> ParsedFile:
    text = f"# {path}\n" + "".join(f"def {d}(): pass\n" for d in defs)
    h = hashlib.sha256(text.encode()).hexdigest()
    segments = [Segment(f"{path}::{OUTLINE}::{path}::0", path, OUTLINE, path, 0, 0, 0, 0, text, h)]
    segments += [Segment(f"{path}::{SYMBOL}::{d}::0", path, SYMBOL, d, 0, 1, i, i, d, h)
                 for i, d in enumerate(defs)]
    return ParsedFile(
        path, language, h, len(text), tuple(segments),
        tuple(Definition(d.rsplit(".", 1)[-1], d, "function", path, i + 1, 4, segments[i + 1].id)
              for i, d in enumerate(defs)),
        tuple(Reference(r, "call", path, 10 + i, 0, segments[0].id) for i, r in enumerate(refs)),
        tuple(imports))


def add(store: IndexStore, parsed: ParsedFile) -> None:
    keys = import_keys(parsed.path, parsed.language, parsed.imports)
    record = FileRecord(parsed.path, parsed.content_hash, parsed.size, 0, parsed.language)
    store.put_file(record, parsed, keys)


@pytest.fixture
def store(tmp_path: Path) -> IndexStore:
    with IndexStore(tmp_path / "store") as s:
        yield s


def test_python_import_keys_cover_modules_packages_and_relative_imports() -> None:
    keys = import_keys("pkg/sub/m.py", "python", [Import("a.b", (), 0), Import(".x", ("y",), 1),
                                                   Import("..", ("z",), 2)])
    assert {"a/b.py", "a/b/__init__.py", "/pkg/sub/x.py", "/pkg/sub/x/y.py", "/pkg/z.py",
            "/pkg/__init__.py"} <= set(keys)


def test_js_go_rust_java_c_import_keys() -> None:
    assert "/src/util.ts" in import_keys("src/app.ts", "typescript", [Import("./util", (), 0)])
    assert "/lib/x/index.js" in import_keys("src/app.js", "javascript", [Import("../lib/x", (), 0)])
    assert import_keys("src/app.js", "javascript", [Import("react", (), 0)]) == ()
    go_keys = import_keys("main.go", "go", [Import("github.com/u/p/internal/util", (), 0)])
    assert go_keys == ("internal/util/",)
    assert "net/tcp.rs" in import_keys("src/main.rs", "rust", [Import("crate::net::tcp", (), 0)])
    assert import_keys("A.java", "java", [Import("com.x.Y", (), 0)]) == ("com/x/Y.java",)
    assert "foo/bar.h" in import_keys("src/a.c", "c", [Import('"foo/bar.h"', (), 0)])


def test_path_index_resolves_exact_suffix_and_directory_keys() -> None:
    paths = PathIndex(["src/pkg/mod.py", "pkg/mod.py", "other/mod.py", "go/internal/util/u.go"])
    assert paths.resolve("/pkg/mod.py") == ["pkg/mod.py"]
    assert paths.resolve("pkg/mod.py") == ["pkg/mod.py", "src/pkg/mod.py"]
    assert paths.resolve("internal/util/") == ["go/internal/util/u.go"]
    assert {"pkg/mod.py", "/src/pkg/mod.py", "pkg/"} <= set(keys_matching("src/pkg/mod.py"))


def test_resolve_prefers_imported_file_then_same_file_then_anywhere(store: IndexStore) -> None:
    add(store, make_file("app/models.py", ["save"]))
    add(store, make_file("legacy/models.py", ["save"]))
    add(store, make_file("app/views.py", ["render"], ["save"], [Import("app.models", ("save",), 0)]))
    add(store, make_file("app/local.py", ["save", "use"], ["save"]))
    table = SymbolTable(store)
    assert [d.path for d in table.resolve("app/views.py", "save")][0] == "app/models.py"
    assert [d.path for d in table.resolve("app/local.py", "save")][0] == "app/local.py"
    assert {d.path for d in table.resolve("app/local.py", "save")} == {"app/local.py", "app/models.py",
                                                                      "legacy/models.py"}
    assert table.resolve("app/views.py", "nothing") == []


def test_resolve_qualified_and_dotted_names(store: IndexStore) -> None:
    add(store, make_file("shop/cart.py", ["Cart", "Cart.total"]))
    table = SymbolTable(store)
    assert [d.qualified_name for d in table.resolve("x.py", "Cart.total")] == ["Cart.total"]
    assert [d.qualified_name for d in table.resolve("x.py", "total")] == ["Cart.total"]
    assert [d.qualified_name for d in table.resolve("x.py", "cart.Cart")] == ["Cart"]


def test_imports_and_importers(store: IndexStore) -> None:
    add(store, make_file("pkg/__init__.py", []))
    add(store, make_file("pkg/a.py", ["f"], [], [Import(".b", ("g",), 0), Import("os", (), 1)]))
    table = SymbolTable(store)
    assert table.imports_of("pkg/a.py") == []
    add(store, make_file("pkg/b.py", ["g"]))  # created after its importer: resolves now
    assert table.imports_of("pkg/a.py") == ["pkg/b.py"]
    assert table.importers_of("pkg/b.py") == ["pkg/a.py"]
    assert [r.path for r in table.references_to("g")] == []


def test_name_weights_follow_aider() -> None:
    assert name_weight("compute_total", 1) == 10
    assert name_weight("computeTotal", 1) == 10
    assert name_weight("run", 1) == 1
    assert name_weight("_helper", 1) == pytest.approx(0.1)
    assert name_weight("run", 6) == pytest.approx(0.1)


def test_graph_edges_and_personalised_pagerank(store: IndexStore) -> None:
    add(store, make_file("core.py", ["compute_total"]))
    add(store, make_file("util.py", ["fmt"]))
    add(store, make_file("a.py", [], ["compute_total", "compute_total", "fmt"]))
    add(store, make_file("b.py", [], ["fmt"]))
    graph = ReferenceGraph(store, SymbolTable(store))
    edges = graph.edges()
    assert edges["a.py"]["core.py"] == pytest.approx(10 * 2 ** 0.5)
    assert edges["a.py"]["util.py"] == pytest.approx(1.0)
    assert "core.py" not in edges.get("b.py", {})
    ranks = graph.pagerank({"a.py"})
    assert sum(ranks.values()) == pytest.approx(1.0)
    assert ranks["core.py"] > ranks["util.py"] > ranks["b.py"]
    ranks_b = graph.pagerank({"b.py"})
    assert ranks_b["util.py"] > ranks_b["core.py"]


def flat(edges: dict[str, dict[str, float]]) -> dict[tuple[str, str], float]:
    return {(src, dst): w for src, out in edges.items() for dst, w in out.items()}


def test_graph_updates_incrementally_like_a_rebuild(store: IndexStore) -> None:
    add(store, make_file("core.py", ["compute_total"]))
    add(store, make_file("a.py", ["run"], ["compute_total"], [Import("core", (), 0)]))
    graph = ReferenceGraph(store, SymbolTable(store))
    before = graph.pagerank({"a.py"})
    add(store, make_file("b.py", ["compute_total"], ["run"]))
    graph.update_file("b.py")
    store.remove_file("core.py")
    graph.update_file("core.py")
    version = graph.version
    incremental = flat(graph.edges())
    assert graph.version == version  # edges() did not have to rebuild
    fresh = ReferenceGraph(store, SymbolTable(store))
    assert incremental == pytest.approx(flat(fresh.edges()))
    assert incremental == {("a.py", "b.py"): 10.0, ("b.py", "a.py"): 1.0}
    assert graph.pagerank({"a.py"}) != before
    assert graph.pagerank({"a.py"}) == pytest.approx(fresh.pagerank({"a.py"}), abs=1e-5)
