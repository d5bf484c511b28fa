"""Errors that reach the user.

Every error c360 raises on purpose says what went wrong, where, and what to do; the CLI prints
its message without a traceback and exits with its ``exit_code``.
"""

from __future__ import annotations


class C360Error(Exception):
    """An error the user can act on. ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n  → {hint}")


class ConfigError(C360Error):
    """c360.toml is missing, unreadable, or says something invalid."""

    exit_code = 2


class SourceError(C360Error):
    """A source could not be read: missing file, bad encoding, unreachable server, bad response."""

    def __init__(self, source: str, message: str, *, hint: str | None = None) -> None:
        self.source = source
        super().__init__(f"source '{source}': {message}", hint=hint)


class LakeError(C360Error):
    """The lake (catalog or table files) could not be read or written."""
