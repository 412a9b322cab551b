"""IndexStore: the LMDB environment of one repository (files, segments, symbols, references, KV blobs).

Every update of one file is one write transaction, so a reader (another process, or a crash) only
ever sees whole files. Keys are utf-8; composite keys join their parts with NUL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import lmdb

from codepager.indexer.errors import IndexerError
from codepager.indexer.records import Definition, Import, ParsedFile, Reference, Segment
from codepager.indexer.store_codec import (
    DEF_SEGMENT,
    SEP,
    EncodedFile,
    FileRecord,
    db_key,
    encode_file,
    references,
)

SCHEMA_VERSION = 2
INDEX_DBS = ("files", "segments", "symbols", "references", "outlines", "imports", "importers")
ALL_DBS = ("meta", *INDEX_DBS, "kv")
T = TypeVar("T")


class IndexStore:
    def __init__(self, path: Path, *, map_size: int = 64 << 20, sync: bool = False, readonly: bool = False):
        self.path = path
        try:
            if not readonly:
                path.mkdir(parents=True, exist_ok=True)
            self.env = lmdb.open(str(path), map_size=map_size, max_dbs=len(ALL_DBS) + 2, subdir=True,
                                 lock=True, sync=sync, readahead=False, readonly=readonly,
                                 create=not readonly)
            self.dbs = {name: self.env.open_db(name.encode(), create=not readonly) for name in ALL_DBS}
        except (lmdb.Error, OSError) as err:
            raise IndexerError(f"index store {path} cannot be opened ({err}); delete it to rebuild") from err
        if not readonly:
            self._check_schema()

    def close(self) -> None:
        self.env.close()

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions --------------------------------------------------------------------------

    def write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run fn in one write transaction, growing the map and retrying when it is full."""
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    result = fn(txn)
                    self._bump_generation(txn)
                    return result
            except lmdb.MapFullError:
                self.env.set_mapsize(self.env.info()["map_size"] * 2)

    def _bump_generation(self, txn: lmdb.Transaction) -> None:
        meta = self.dbs["meta"]
        generation = int(txn.get(b"generation", b"0", db=meta)) + 1
        txn.put(b"generation", str(generation).encode(), db=meta)
        txn.put(b"last_update", repr(time.time()).encode(), db=meta)

    def _check_schema(self) -> None:
        meta = self.dbs["meta"]
        with self.env.begin() as txn:
            found = txn.get(b"schema", db=meta)
        if found == str(SCHEMA_VERSION).encode():
            return

        def reset(txn: lmdb.Transaction) -> None:
            for name in INDEX_DBS:
                txn.drop(self.dbs[name], delete=False)
            txn.put(b"schema", str(SCHEMA_VERSION).encode(), db=meta)

        self.write(reset)

    def reset_index(self) -> None:
        """Drop everything derived from the repository (keeps KV blobs: they are keyed by content)."""
        self.write(lambda txn: [txn.drop(self.dbs[name], delete=False) for name in INDEX_DBS])

    # -- meta ----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self.env.begin() as txn:
            raw = txn.get(key.encode(), db=self.dbs["meta"])
        return None if raw is None else raw.decode()

    def set_meta(self, key: str, value: str) -> None:
        self.write(lambda txn: txn.put(key.encode(), value.encode(), db=self.dbs["meta"]))

    def generation(self) -> int:
        """Bumped by every write: in-memory caches compare it to notice writes of other processes."""
        return int(self.get_meta("generation") or 0)

    def paths_generation(self) -> int:
        """Bumped only when a file is added or removed."""
        return int(self.get_meta("paths_generation") or 0)

    # -- one file, one transaction ---------------------------------------------------------------

    def put_file(self, record: FileRecord, parsed: ParsedFile | None = None,
                 import_keys: tuple[str, ...] = ()) -> FileRecord:
        """Replace everything stored for record.path by this record and its parse, atomically."""
        if parsed is not None:
            return self.put_encoded(encode_file(record, parsed, import_keys))
        return self.put_encoded(EncodedFile(record, ()))

    def put_encoded(self, encoded: EncodedFile) -> FileRecord:
        """put_file for a parse already encoded (by `encode_file`, e.g. in a worker process)."""
        record = encoded.record
        path_key = record.path.encode()
        record_json = record.to_json()

        def write_all(txn: lmdb.Transaction) -> None:
            if self._delete_file(txn, record.path) is None:
                self._bump_paths_generation(txn)
            txn.put(path_key, record_json, db=self.dbs["files"])
            for db, rows in encoded.rows:
                if rows:
                    txn.cursor(db=self.dbs[db]).putmulti(rows)

        self.write(write_all)
        return record

    def touch_file(self, path: str, *, mtime_ns: int, size: int) -> None:
        """Content unchanged, only the stat fields moved (e.g. `touch`, a checkout of the same blob)."""

        def touch(txn: lmdb.Transaction) -> None:
            raw = txn.get(path.encode(), db=self.dbs["files"])
            if raw is not None:
                record = replace(FileRecord.from_json(raw), mtime_ns=mtime_ns, size=size)
                txn.put(path.encode(), record.to_json(), db=self.dbs["files"])

        self.write(touch)

    def remove_file(self, path: str) -> FileRecord | None:
        def remove(txn: lmdb.Transaction) -> FileRecord | None:
            old = self._delete_file(txn, path)
            if old is not None:
                self._bump_paths_generation(txn)
            return old

        return self.write(remove)

    def _bump_paths_generation(self, txn: lmdb.Transaction) -> None:
        meta = self.dbs["meta"]
        generation = int(txn.get(b"paths_generation", b"0", db=meta)) + 1
        txn.put(b"paths_generation", str(generation).encode(), db=meta)

    def _delete_file(self, txn: lmdb.Transaction, path: str) -> FileRecord | None:
        raw = txn.get(path.encode(), db=self.dbs["files"])
        if raw is None:
            return None
        old = FileRecord.from_json(raw)
        for seg_id in old.segment_ids:
            txn.delete(seg_id.encode(), db=self.dbs["segments"])
        for name in old.def_names:
            txn.delete(db_key(name, path), db=self.dbs["symbols"])
        for name in old.ref_names:
            txn.delete(db_key(name, path), db=self.dbs["references"])
        for key in old.import_keys:
            txn.delete(db_key(key, path), db=self.dbs["importers"])
        for db in ("outlines", "imports", "files"):
            txn.delete(path.encode(), db=self.dbs[db])
        return old

    # -- reads -----------------------------------------------------------------------------------

    def _get(self, db: str, key: bytes) -> bytes | None:
        with self.env.begin() as txn:
            return txn.get(key, db=self.dbs[db])

    def _scan(self, db: str, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """Entries whose key starts with prefix, read in one snapshot (no transaction outlives the call)."""
        found = []
        with self.env.begin() as txn:
            cursor = txn.cursor(db=self.dbs[db])
            if cursor.set_range(prefix):
                for key, value in cursor:
                    if not key.startswith(prefix):
                        break
                    found.append((key, value))
        return found

    def file(self, path: str) -> FileRecord | None:
        raw = self._get("files", path.encode())
        return None if raw is None else FileRecord.from_json(raw)

    def files(self) -> Iterator[FileRecord]:
        for _, raw in self._scan("files", b""):
            yield FileRecord.from_json(raw)

    def segment(self, segment_id: str) -> Segment | None:
        raw = self._get("segments", segment_id.encode())
        return None if raw is None else Segment(*json.loads(raw))

    def segments_of(self, path: str) -> list[Segment]:
        """The file's segments in stored order, read in one snapshot."""
        with self.env.begin() as txn:
            raw = txn.get(path.encode(), db=self.dbs["files"])
            if raw is None:
                return []
            ids = FileRecord.from_json(raw).segment_ids
            return [Segment(*json.loads(txn.get(i.encode(), db=self.dbs["segments"]))) for i in ids]

    def outline_id(self, path: str) -> str | None:
        raw = self._get("outlines", path.encode())
        return None if raw is None else raw.decode()

    def definitions(self, name: str) -> list[Definition]:
        found = []
        for _, raw in self._scan("symbols", db_key(name, "")):
            found.extend(Definition(*d) for d in json.loads(raw))
        return [d for d in found if name in (d.name, d.qualified_name)]

    def definitions_in(self, path: str) -> list[Definition]:
        record = self.file(path)
        if record is None:
            return []
        seen: dict[tuple, Definition] = {}
        for name in record.def_names:
            raw = self._get("symbols", db_key(name, path)) or b"[]"
            for d in (Definition(*item) for item in json.loads(raw)):
                seen.setdefault((d.qualified_name, d.line, d.column), d)
        return sorted(seen.values(), key=lambda d: (d.line, d.column))

    def references_to(self, name: str) -> list[Reference]:
        found = []
        for key, raw in self._scan("references", db_key(name, "")):
            path = key.decode().split(SEP, 1)[1]
            found.extend(references(name, path, raw))
        return found

    def references_in(self, path: str) -> list[Reference]:
        record = self.file(path)
        found = []
        for name in record.ref_names if record else ():
            raw = self._get("references", db_key(name, path)) or b"[]"
            found.extend(references(name, path, raw))
        return sorted(found, key=lambda r: (r.line, r.column))

    def imports_of(self, path: str) -> list[Import]:
        raw = self._get("imports", path.encode())
        return [] if raw is None else [Import.from_dict(i) for i in json.loads(raw)]

    def importers_by_key(self, key: str) -> list[str]:
        return [k.decode().split(SEP, 1)[1] for k, _ in self._scan("importers", db_key(key, ""))]

    def all_entries(self, db: str) -> list[tuple[bytes, bytes]]:
        """Every entry of one named database (for the graph, status and consistency checks)."""
        return self._scan(db, b"")

    # -- KV blobs of the engine ------------------------------------------------------------------

    def put_kv(self, model_fingerprint: str, content_hash: str, blob: bytes) -> None:
        self.write(lambda txn: txn.put(db_key(model_fingerprint, content_hash), blob, db=self.dbs["kv"]))

    def get_kv(self, model_fingerprint: str, content_hash: str) -> bytes | None:
        return self._get("kv", db_key(model_fingerprint, content_hash))

    def delete_kv(self, model_fingerprint: str, content_hash: str | None = None) -> int:
        """Delete one blob, or every blob of a model fingerprint when content_hash is None."""
        keys = ([db_key(model_fingerprint, content_hash)] if content_hash is not None
                else [k for k, _ in self._scan("kv", db_key(model_fingerprint, ""))])
        return sum(self.write(lambda txn: [txn.delete(k, db=self.dbs["kv"]) for k in keys]))

    def kv_size(self) -> int:
        """Bytes of KV blobs stored."""
        with self.env.begin(buffers=True) as txn:
            return sum(len(value) for _, value in txn.cursor(db=self.dbs["kv"]))

    # -- accounting ------------------------------------------------------------------------------

    def entries(self, db: str) -> int:
        with self.env.begin() as txn:
            return txn.stat(self.dbs[db])["entries"]

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())

    def consistency_problems(self) -> list[str]:
        """Dangling pointers between the databases, read in one snapshot; [] for a consistent store."""
        problems: list[str] = []
        with self.env.begin() as txn:
            segments, files = self.dbs["segments"], self.dbs["files"]
            owned: set[bytes] = set()
            for _, raw in txn.cursor(db=files):
                record = FileRecord.from_json(raw)
                for seg_id in record.segment_ids:
                    owned.add(seg_id.encode())
                    if txn.get(seg_id.encode(), db=segments) is None:
                        problems.append(f"{record.path}: segment {seg_id} missing")
            for key, _ in txn.cursor(db=segments):
                if key not in owned:
                    problems.append(f"segment {key.decode()} belongs to no file")
            for db in ("symbols", "references"):
                for key, raw in txn.cursor(db=self.dbs[db]):
                    name, path = key.decode().split(SEP, 1)
                    if txn.get(path.encode(), db=files) is None:
                        problems.append(f"{db} {name} points at unknown file {path}")
                    for item in json.loads(raw):
                        seg_id = item[DEF_SEGMENT] if db == "symbols" else item[3]
                        if txn.get(seg_id.encode(), db=segments) is None:
                            problems.append(f"{db} {name} in {path} points at missing segment {seg_id}")
            for key, seg_id in txn.cursor(db=self.dbs["outlines"]):
                if txn.get(seg_id, db=segments) is None:
                    problems.append(f"outline of {key.decode()} missing")
        return problems
