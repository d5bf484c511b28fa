"""Errors located in a model file, so the user can jump straight to the line to fix."""

from __future__ import annotations

from pathlib import Path

from c360.errors import C360Error


class ModelError(C360Error):
    """A model file is wrong: bad header, bad SQL, a construct outside the portable subset.

    The message starts with ``file:line:``, the form editors and terminals turn into a link.
    """

    exit_code = 2

    def __init__(self, path: Path, line: int | None, message: str, *, hint: str | None = None) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{location(path, line)}: {message}", hint=hint)


def location(path: Path, line: int | None) -> str:
    return f"{path}:{line}" if line else str(path)
