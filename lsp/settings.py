"""The server's settings, from `initializationOptions` and `workspace/didChangeConfiguration`.

Clients send `{"codepager": {"modelPath", "device", "contextBudget", "maxTokens", "debounceMs",
"cpuThreads"}}`
(camelCase; a flat object is accepted too). A bad value is reported and the previous value kept;
an unknown key is reported and ignored. `null` means "the server's default".
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from codepager.errors import ConfigError

SECTION = "codepager"
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:[0-9]+)?)$")
INTEGER_RANGES = {"context_budget": (0, 131072), "max_tokens": (1, 4096), "debounce_ms": (0, 5000)}
CAMEL_TO_FIELD = {"modelPath": "model_path", "device": "device", "contextBudget": "context_budget",
                  "maxTokens": "max_tokens", "debounceMs": "debounce_ms", "cpuThreads": "cpu_threads"}
MAX_CPU_THREADS = 256
# Settings whose change needs the model reloaded / the per-root assistants rebuilt.
MODEL_FIELDS = ("model_path", "device")
ASSISTANT_FIELDS = ("model_path", "device", "context_budget")
# Settings the worker host applies (a restart of the host, which reloads only what they touch).
HOST_FIELDS = (*ASSISTANT_FIELDS, "cpu_threads")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    model_path: str | None = None  # None: the embedded default model
    device: str | None = None  # None / "auto": CUDA when available, else CPU
    context_budget: int = 1536  # tokens of repository context per completion (0: in-file only)
    max_tokens: int = 64
    debounce_ms: int = 75  # a completion waits this long for a newer keystroke before starting
    cpu_threads: int | None = None  # torch's threads for a CPU engine (None: torch's default)

    def __post_init__(self) -> None:
        model, device = self.model_path, self.device
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise ConfigError(f"modelPath must be a non-empty string or null, got {self.model_path!r}")
        if device is not None and (not isinstance(device, str) or not DEVICE_PATTERN.match(device)):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        threads = self.cpu_threads
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or not 1 <= threads <= MAX_CPU_THREADS):
            raise ConfigError(f"cpuThreads must be null or an integer in [1, {MAX_CPU_THREADS}], "
                              f"got {threads!r}")
        for name, (low, high) in INTEGER_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{_camel(name)} must be an integer in [{low}, {high}], got {value!r}")

    def resolved_device(self) -> str:
        if self.device not in (None, "auto"):
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def to_dict(self) -> dict[str, Any]:
        return {_camel(f.name): getattr(self, f.name) for f in dataclasses.fields(self)}

    def changed_fields(self, other: ServerSettings) -> set[str]:
        return {f.name for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(other, f.name)}


def _camel(name: str) -> str:
    return next((camel for camel, field in CAMEL_TO_FIELD.items() if field == name), name)


def apply_options(current: ServerSettings, options: Any) -> tuple[ServerSettings, list[str]]:
    """New settings from a client's options object, and one line per problem found in it."""
    if options is None:
        return current, []
    if not isinstance(options, dict):
        return current, [f"codepager settings must be an object, got {type(options).__name__}"]
    if SECTION in options:
        options = options[SECTION]
        if options is None:
            return current, []
        if not isinstance(options, dict):
            return current, [f"codepager settings must be an object, got {type(options).__name__}"]
    problems: list[str] = []
    settings = current
    for key, value in options.items():
        name = CAMEL_TO_FIELD.get(key, key if key in CAMEL_TO_FIELD.values() else None)
        if name is None:
            problems.append(f"unknown codepager setting {key!r}; known: {', '.join(CAMEL_TO_FIELD)}")
            continue
        if (name == "model_path" and value == "") or (name == "device" and value in ("", "auto")):
            value = None
        try:
            settings = dataclasses.replace(settings, **{name: value})
        except ConfigError as err:
            problems.append(f"{err}; keeping {getattr(settings, name)!r}")
    return settings, problems
