"""IndexStore on hand-written records: one transaction per file, lookups, KV blobs, growth, schema."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from codepager.indexer import store as store_module
from codepager.indexer.errors import IndexerError
from codepager.indexer.records import OUTLINE, SYMBOL, Definition, Import, ParsedFile, Reference, Segment
from codepager.indexer.store import FileRecord, IndexStore


def seg(path: str, kind: str, name: str, text: str, line: int = 0) -> Segment:
    return Segment(f"{path}::{kind}::{name}::0", path, kind, name, 0, len(text), line, line,
                   text, hashlib.sha256(text.encode()).hexdigest())


def parsed_file(path: str, functions: dict[str, str], calls: list[str] = (),
                imports: tuple[Import, ...] = ()) -> ParsedFile:
    segments = [seg(path, OUTLINE, path, "\n".join(f"def {n}(): ..." for n in functions))]
    segments += [seg(path, SYMBOL, name, body, i) for i, (name, body) in enumerate(functions.items())]
    defs = tuple(Definition(name, name, "function", path, i, 4, segments[i + 1].id)
                 for i, name in enumerate(functions))
    refs = tuple(Reference(name, "call", path, i, 8, segments[1].id) for i, name in enumerate(calls))
    text = "".join(functions.values())
    return ParsedFile(path, "python", hashlib.sha256(text.encode()).hexdigest(), len(text), tuple(segments),
                      defs, refs, imports)


def put(store: IndexStore, parsed: ParsedFile) -> FileRecord:
    return store.put_file(FileRecord(parsed.path, parsed.content_hash, parsed.size, 1, "python"), parsed)


@pytest.fixture
def store(tmp_path: Path) -> IndexStore:
    with IndexStore(tmp_path / "store") as s:
        yield s


def test_put_and_read_back_one_file(store: IndexStore) -> None:
    parsed = parsed_file("a.py", {"alpha": "def alpha(): pass\n", "beta": "def beta(): alpha()\n"}, ["alpha"])
    record = put(store, parsed)
    assert record.segment_ids == tuple(s.id for s in parsed.segments)
    assert store.segments_of("a.py") == list(parsed.segments)
    assert store.segment(parsed.segments[1].id) == parsed.segments[1]
    assert store.outline_id("a.py") == parsed.segments[0].id
    assert [d.name for d in store.definitions_in("a.py")] == ["alpha", "beta"]
    assert [(r.path, r.name) for r in store.references_to("alpha")] == [("a.py", "alpha")]
    assert store.file("a.py").def_count == 2
    assert store.consistency_problems() == []


def test_replacing_a_file_drops_its_old_entries(store: IndexStore) -> None:
    put(store, parsed_file("a.py", {"alpha": "def alpha(): pass\n"}, ["gamma"]))
    put(store, parsed_file("a.py", {"beta": "def beta(): pass\n"}))
    assert store.definitions("alpha") == []
    assert store.references_to("gamma") == []
    assert [d.name for d in store.definitions("beta")] == ["beta"]
    assert store.entries("segments") == 2
    assert store.consistency_problems() == []


def test_removing_a_file_removes_everything_it_owned(store: IndexStore) -> None:
    put(store, parsed_file("a.py", {"alpha": "def alpha(): pass\n"}, ["beta"]))
    put(store, parsed_file("b.py", {"beta": "def beta(): pass\n"}))
    old = store.remove_file("a.py")
    assert old is not None and old.path == "a.py"
    assert store.file("a.py") is None
    assert store.definitions("alpha") == [] and store.references_to("beta") == []
    assert [r.path for r in store.files()] == ["b.py"]
    assert store.remove_file("a.py") is None
    assert store.consistency_problems() == []


def test_names_that_share_a_prefix_stay_apart(store: IndexStore) -> None:
    put(store, parsed_file("a.py", {"run": "def run(): pass\n", "run_all": "def run_all(): pass\n"}))
    assert [d.name for d in store.definitions("run")] == ["run"]


def test_paths_generation_moves_only_when_the_file_set_changes(store: IndexStore) -> None:
    put(store, parsed_file("a.py", {"f": "def f(): pass\n"}))
    before = store.paths_generation()
    put(store, parsed_file("a.py", {"g": "def g(): pass\n"}))
    assert store.paths_generation() == before
    store.remove_file("a.py")
    assert store.paths_generation() == before + 1


def test_kv_blobs_by_model_and_content_hash(store: IndexStore) -> None:
    store.put_kv("model-a", "h1", b"x" * 100)
    store.put_kv("model-a", "h2", b"y" * 50)
    store.put_kv("model-b", "h1", b"z")
    assert store.get_kv("model-a", "h1") == b"x" * 100
    assert store.get_kv("model-a", "missing") is None
    assert store.kv_size() == 151
    assert store.delete_kv("model-a", "h2") == 1
    assert store.delete_kv("model-a") == 1
    assert store.get_kv("model-b", "h1") == b"z" and store.kv_size() == 1


def test_map_grows_instead_of_failing(tmp_path: Path) -> None:
    with IndexStore(tmp_path / "store", map_size=64 * 1024) as store:
        initial = store.env.info()["map_size"]
        for i in range(60):
            put(store, parsed_file(f"m{i}.py", {f"f{i}": f"def f{i}():\n" + "    x = 1\n" * 200}))
        assert store.env.info()["map_size"] > initial
        assert len(list(store.files())) == 60
        assert store.consistency_problems() == []


def test_schema_change_drops_the_index_but_keeps_kv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with IndexStore(tmp_path / "store") as store:
        put(store, parsed_file("a.py", {"f": "def f(): pass\n"}))
        store.put_kv("m", "h", b"blob")
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", store_module.SCHEMA_VERSION + 1)
    with IndexStore(tmp_path / "store") as store:
        assert list(store.files()) == [] and store.entries("segments") == 0
        assert store.get_kv("m", "h") == b"blob"
        assert store.get_meta("schema") == str(store_module.SCHEMA_VERSION)


def test_corrupt_store_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "store"
    path.mkdir()
    (path / "data.mdb").write_bytes(b"this is not an lmdb file" * 1000)
    with pytest.raises(IndexerError, match="cannot be opened"):
        IndexStore(path)


def test_consistency_check_finds_a_dangling_segment(store: IndexStore) -> None:
    parsed = parsed_file("a.py", {"alpha": "def alpha(): pass\n"})
    put(store, parsed)
    store.write(lambda txn: txn.delete(parsed.segments[1].id.encode(), db=store.dbs["segments"]))
    problems = store.consistency_problems()
    assert any("missing" in p for p in problems)


def test_another_process_reads_what_was_committed(store: IndexStore) -> None:
    put(store, parsed_file("a.py", {"alpha": "def alpha(): pass\n"}))
    code = ("import sys; from pathlib import Path; from codepager.indexer.store import IndexStore\n"
            "s = IndexStore(Path(sys.argv[1]))\n"
            "print(','.join(d.path for d in s.definitions('alpha')), len(s.consistency_problems()))\n")
    out = subprocess.run([sys.executable, "-c", code, str(store.path)], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["a.py", "0"]
