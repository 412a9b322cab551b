"""User-facing errors: each prints as one line naming the problem."""


class CodepagerError(Exception):
    """Base of every error a user can cause (bad model directory, bad position, bad settings...)."""


class ModelLoadError(CodepagerError):
    """The model directory is missing, incomplete, corrupt or of an unsupported architecture."""


class RequestError(CodepagerError):
    """A request cannot be served as asked (prompt too long, position out of range, ...)."""


class ConfigError(CodepagerError):
    """A configuration value is unknown or invalid."""
