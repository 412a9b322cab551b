"""Settings dicts to config dataclasses: the one place that rejects names a dataclass does not have.

The indexer keeps its own copy in indexer/config.py (it may not import codepager core).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

from codepager.errors import ConfigError

ConfigT = TypeVar("ConfigT")


def reject_unknown_settings(cls: type, settings: Mapping[str, Any], what: str) -> None:
    """Raise ConfigError naming every key of `settings` that is not a field of dataclass `cls`."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(f"unknown {what} setting(s): {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(known))}")


def config_from_dict(cls: type[ConfigT], settings: Mapping[str, Any], what: str) -> ConfigT:
    """cls(**settings) after rejecting unknown names; `what` names the settings in the message."""
    reject_unknown_settings(cls, settings, what)
    return cls(**settings)
