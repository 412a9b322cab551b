"""codepager: a code-assistant backend for large repositories."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy: `import codepager` must stay cheap (no torch) for the indexer and the CLI's fast paths.
    if name == "Assistant":
        from codepager.assistant import Assistant

        return Assistant
    raise AttributeError(f"module 'codepager' has no attribute {name!r}")
