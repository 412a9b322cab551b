"""How the store encodes its values: FileRecord and compact JSON lists of the indexer's records.

Records are stored as JSON lists in field order (the store's schema version guards the order):
building dicts with dataclasses.asdict cost more than parsing on a cold index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

from codepager.indexer.records import Definition, Reference, Segment

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


ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: Any) -> bytes:
    return ENCODE(value).encode()


def db_key(*parts: str) -> bytes:
    return SEP.join(parts).encode()


def references(name: str, path: str, raw: bytes) -> list[Reference]:
    return [Reference(name, kind, path, line, col, seg) for kind, line, col, seg in json.loads(raw)]
