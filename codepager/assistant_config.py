"""AssistantConfig: the settings of the Assistant facade (model, engine, index, context, completion)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codepager.config_fields import reject_unknown_settings
from codepager.context.config import ContextConfig
from codepager.context.reuse import REUSE_MODES
from codepager.engine.config import EngineConfig
from codepager.errors import ConfigError
from codepager.indexer.config import IndexConfig
from codepager.remote_backend import RemoteBackendConfig

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"


@dataclass(slots=True)
class AssistantConfig:
    model_dir: Path | None = None  # None: the embedded default model
    reuse: str = "prefix"  # see codepager.context.reuse.REUSE_MODES
    max_tokens: int = 64
    repo_name: str | None = None  # None: the repository folder's name
    watch: bool = False  # keep the index current with a file watcher
    persist_kv: bool = True  # persist outline segments' KV in the index store (segment modes)
    engine: EngineConfig = field(default_factory=EngineConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    context: ContextConfig = field(default_factory=ContextConfig)
    # an OpenAI-compatible server (vLLM, SGLang, another codepager) instead of the local engine;
    # model_dir then only supplies the served model's tokenizer files
    remote: RemoteBackendConfig | None = None

    def __post_init__(self) -> None:
        if self.model_dir is not None and not isinstance(self.model_dir, Path):
            self.model_dir = Path(self.model_dir)
        if self.reuse not in REUSE_MODES:
            raise ConfigError(f"unknown reuse mode {self.reuse!r}; known: {', '.join(REUSE_MODES)}")
        if self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.remote is not None and self.reuse != "prefix":
            raise ConfigError("a remote backend supports only reuse mode 'prefix' (its own prefix cache)")

    @property
    def resolved_model_dir(self) -> Path:
        return self.model_dir if self.model_dir is not None else DEFAULT_MODEL_DIR

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AssistantConfig:
        """Nested dicts for engine / index / context; unknown names anywhere are rejected."""
        reject_unknown_settings(cls, data, "assistant")
        values = dict(data)
        if isinstance(values.get("engine"), dict):
            values["engine"] = EngineConfig.from_dict(values["engine"])
        if isinstance(values.get("context"), dict):
            values["context"] = ContextConfig.from_dict(values["context"])
        if isinstance(values.get("remote"), dict):
            values["remote"] = RemoteBackendConfig.from_dict(values["remote"])
        if isinstance(values.get("index"), dict):
            try:
                values["index"] = IndexConfig.from_dict(values["index"])
            except Exception as err:  # IndexerError: the indexer keeps its own error type
                raise ConfigError(str(err)) from err
        return cls(**values)
