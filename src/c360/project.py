"""Creating a project directory."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from c360.config import CONFIG_FILE
from c360.errors import ConfigError


def starter_config() -> str:
    return resources.files("c360").joinpath("templates", "c360.toml").read_text(encoding="utf-8")


def init_project(directory: Path, *, force: bool = False) -> Path:
    path = directory / CONFIG_FILE
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists", hint="edit it, or pass --force to overwrite it")
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(starter_config(), encoding="utf-8")
    return path
