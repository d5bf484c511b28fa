"""Options shared by several verbs."""

from __future__ import annotations

from pathlib import Path

import click

FORMATS = click.Choice(["table", "csv", "json"])
project_dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The project directory (the one holding c360.toml).",
)
