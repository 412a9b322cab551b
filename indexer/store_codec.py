"""How the store encodes its values: FileRecord and compact JSON lists of the indexer's records.

Records are stored as JSON lists in field order (the store's schema version guards the order):
building dicts with dataclasses.asdict cost more than parsing on a cold index.
"""

from __future__ import annotations

import json
import json.encoder
from dataclasses import dataclass, fields, replace
from operator import attrgetter
from typing import Any

from codepager.indexer.records import Definition, ParsedFile, Reference, Segment

SEP = "\0"


@dataclass(frozen=True, slots=True)
class FileRecord:
    path: str
    content_hash: str
    size: int
    mtime_ns: int
    language: str = ""
    segment_ids: tuple[str, ...] = ()
    segment_hashes: tuple[str, ...] = ()  # content hash of each segment, same order
    def_count: int = 0
    ref_count: int = 0
    skip_reason: str = ""  # non-empty: the file is listed but not indexed
    skip_detail: str = ""
    def_names: tuple[str, ...] = ()  # symbol keys this file owns (bare and qualified names)
    ref_names: tuple[str, ...] = ()  # reference keys this file owns
    import_keys: tuple[str, ...] = ()  # candidate targets of its imports (see symbols.import_keys)

    def to_json(self) -> bytes:
        return dumps(RECORD_VALUES(self))

    @classmethod
    def from_json(cls, raw: bytes) -> FileRecord:
        values = json.loads(raw)
        return cls(*(tuple(v) if isinstance(v, list) else v for v in values))


RECORD_VALUES = attrgetter(*(f.name for f in fields(FileRecord)))
SEGMENT_VALUES = attrgetter(*(f.name for f in fields(Segment)))
DEFINITION_VALUES = attrgetter(*(f.name for f in fields(Definition)))
DEF_SEGMENT = [f.name for f in fields(Definition)].index("segment_id")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# what _ENCODER.encode builds on every call (json's C encoder with these settings), built once
_C_ENCODER = json.encoder.c_make_encoder and json.encoder.c_make_encoder(
    None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True)


def encode_json(value: Any) -> str:
    """Compact JSON, exactly as `_ENCODER.encode(value)` writes it."""
    return "".join(_C_ENCODER(value, 0)) if _C_ENCODER else _ENCODER.encode(value)


def dumps(value: Any) -> bytes:
    return encode_json(value).encode()


def db_key(*parts: str) -> bytes:
    return SEP.join(parts).encode()


Rows = tuple[tuple[str, tuple[tuple[bytes, bytes], ...]], ...]  # (database, ((key, value), ...))


@dataclass(frozen=True, slots=True)
class EncodedFile:
    """A parsed file in the store's encoding: its file record and the rows its transaction puts.

    Encoding runs where the file was parsed (a worker process), so the parent only writes bytes.
    """

    record: FileRecord
    rows: Rows


def encode_file(record: FileRecord, parsed: ParsedFile, import_keys: tuple[str, ...] = (),
                ref_rows: list[tuple[str, str, int, int, str]] | None = None) -> EncodedFile:
    """ref_rows: the references as `parse.parse_rows` gives them, instead of parsed.references."""
    if ref_rows is None:
        ref_rows = [(r.name, r.kind, r.line, r.column, r.segment_id) for r in parsed.references]
    path = record.path
    path_key = path.encode()
    defs: dict[str, list[Any]] = {}
    refs: dict[str, list[tuple]] = {}
    for d in parsed.definitions:
        values = DEFINITION_VALUES(d)
        defs.setdefault(d.name, []).append(values)
        if d.qualified_name != d.name:  # a fixed order: a set's order changes with the hash seed
            defs.setdefault(d.qualified_name, []).append(values)
    for row in ref_rows:
        refs.setdefault(row[0], []).append(row[1:])  # [kind, line, column, segment id] in JSON
    record = replace(record, segment_ids=tuple(s.id for s in parsed.segments),
                     segment_hashes=tuple(s.content_hash for s in parsed.segments),
                     def_names=tuple(defs), ref_names=tuple(refs), def_count=len(parsed.definitions),
                     ref_count=len(ref_rows), import_keys=tuple(import_keys))
    outline = parsed.outline
    key_tail = (SEP + path).encode()
    rows: Rows = (
        ("segments", tuple((s.id.encode(), dumps(SEGMENT_VALUES(s))) for s in parsed.segments)),
        ("outlines", ((path_key, outline.id.encode()),) if outline is not None else ()),
        ("symbols", tuple((name.encode() + key_tail, dumps(items)) for name, items in defs.items())),
        ("references", tuple((name.encode() + key_tail, dumps(items)) for name, items in refs.items())),
        ("imports", ((path_key, dumps([i.to_dict() for i in parsed.imports])),)),
        ("importers", tuple((db_key(key, path), b"") for key in import_keys)),
    )
    return EncodedFile(record, rows)


def references(name: str, path: str, raw: bytes) -> list[Reference]:
    return [Reference(name, kind, path, line, col, seg) for kind, line, col, seg in json.loads(raw)]
