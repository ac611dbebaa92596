"""The version, in one place: ``pyproject.toml`` reads it (dynamic) and ``clematis`` re-exports it."""

__version__ = "0.1.0"
