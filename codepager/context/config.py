"""ContextConfig: every setting of context assembly, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codepager.config_fields import config_from_dict
from codepager.context.prompt_format import PSM, SPM
from codepager.context.retrieval import BM25, JACCARD
from codepager.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ContextConfig:
    repo_budget_tokens: int = 1536  # the repository part (other files' segments)
    prefix_tokens: int = 1024  # the current buffer before the cursor
    suffix_tokens: int = 128  # the buffer after the cursor: recomputed on every keystroke in PSM order
    chars_per_token: float = 3.0  # conservative estimate used to cut the buffer at stable lines
    prefix_anchor_lines: int = 32  # the prefix starts at a multiple of this many lines (cache-stable)
    window_lines: int = 20  # RepoCoder-style similar-code windows
    window_stride: int = 10
    query_lines: int = 20  # lines before the cursor that form the retrieval query
    similar_windows: int = 3
    retrieval: str = JACCARD
    min_similarity: float = 0.05
    max_import_outlines: int = 4
    max_importer_outlines: int = 2
    max_definitions: int = 4
    max_item_tokens: int = 512  # one context item larger than this is left out
    identifier_lines: int = 3  # lines before the cursor whose identifiers are resolved
    stable_overlap: float = 0.5  # reuse the previous selection while this share of its top set stays
    fim_order: str = PSM

    def __post_init__(self) -> None:
        for name in ("prefix_tokens", "suffix_tokens", "prefix_anchor_lines", "window_lines", "window_stride",
                     "query_lines", "max_item_tokens", "identifier_lines"):
            if getattr(self, name) < 1:
                raise ConfigError(f"context setting {name} must be at least 1, got {getattr(self, name)}")
        for name in ("repo_budget_tokens", "similar_windows", "max_import_outlines", "max_importer_outlines",
                     "max_definitions"):
            if getattr(self, name) < 0:
                raise ConfigError(f"context setting {name} must be >= 0, got {getattr(self, name)}")
        if self.window_stride > self.window_lines:
            raise ConfigError("context setting window_stride must not exceed window_lines")
        if self.retrieval not in (JACCARD, BM25):
            raise ConfigError(f"context setting retrieval must be {JACCARD} or {BM25}, "
                              f"got {self.retrieval!r}")
        if self.fim_order not in (PSM, SPM):
            raise ConfigError(f"context setting fim_order must be {PSM} or {SPM}, got {self.fim_order!r}")
        if not 0.0 <= self.stable_overlap <= 1.0 or self.chars_per_token <= 0:
            raise ConfigError("context settings need 0 <= stable_overlap <= 1 and chars_per_token > 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContextConfig:
        return config_from_dict(cls, data, "context")
