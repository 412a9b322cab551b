"""The numbers `codepager status` shows, read from the store in one pass over the file records."""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codepager.indexer.index import RepositoryIndex


def index_status(index: RepositoryIndex) -> dict[str, Any]:
    store = index.store
    languages: Counter[str] = Counter()
    skipped: list[dict[str, str]] = []
    definitions = references = 0
    for record in store.files():
        if record.skip_reason:
            skipped.append({"path": record.path, "reason": record.skip_reason, "detail": record.skip_detail})
            continue
        languages[record.language] += 1
        definitions += record.def_count
        references += record.ref_count
    last = store.get_meta("last_update")
    last_iso = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(float(last))) if last else None
    return {
        "root": str(index.root),
        "store": str(store.path),
        "files": sum(languages.values()),
        "languages": dict(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))),
        "skipped": skipped,
        "skipped_by_reason": dict(Counter(s["reason"] for s in skipped)),
        "segments": store.entries("segments"),
        "symbols": definitions,
        "references": references,
        "store_bytes": store.disk_bytes(),
        "kv_blobs": store.entries("kv"),
        "kv_bytes": store.kv_size(),
        "last_update": float(last) if last else None,
        "last_update_iso": last_iso,
        "overlays": index.overlays.paths(),
    }
