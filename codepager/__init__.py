"""codepager: a code-assistant backend for large repositories."""

__version__ = "0.1.0"
