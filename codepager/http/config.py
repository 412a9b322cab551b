"""HttpConfig: the settings of the OpenAI-compatible endpoint (bind address, key, limits)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from codepager.config_fields import config_from_dict
from codepager.errors import ConfigError

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


@dataclass(slots=True)
class HttpConfig:
    """api_key None = no key checked (only allowed on loopback). max_tokens_limit caps what one
    request may ask for; max_request_bytes caps the request body."""

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    model_name: str = "codepager"
    max_tokens_limit: int = 1024
    max_request_bytes: int = 4 * 1024 * 1024
    max_stop_strings: int = 16

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("host must not be empty")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be in 0..65535, got {self.port}")
        if self.api_key == "":
            self.api_key = None
        if self.api_key is None and not is_loopback(self.host):
            raise ConfigError(f"binding to {self.host} exposes the endpoint beyond this machine: "
                              "an API key is required")
        if not self.model_name:
            raise ConfigError("model_name must not be empty")
        if self.max_tokens_limit < 1:
            raise ConfigError(f"max_tokens_limit must be at least 1, got {self.max_tokens_limit}")
        if self.max_request_bytes < 1024:
            raise ConfigError(f"max_request_bytes must be at least 1024, got {self.max_request_bytes}")
        if self.max_stop_strings < 0:
            raise ConfigError(f"max_stop_strings must be >= 0, got {self.max_stop_strings}")

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> HttpConfig:
        return config_from_dict(cls, settings, "HttpConfig")
