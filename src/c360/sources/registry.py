"""From a source's settings in c360.toml to its connector."""

from __future__ import annotations

from pathlib import Path

from c360.config import (
    DelimitedSource,
    FixedWidthSource,
    JsonLinesSource,
    RestApiSource,
    SourceSettings,
    SqlDatabaseSource,
)
from c360.sources.base import FileConnector, RowConnector


def build_connector(name: str, settings: SourceSettings, root: Path) -> FileConnector | RowConnector:
    # Connectors import their client libraries lazily, so only the kinds in use are loaded.
    if isinstance(settings, DelimitedSource):
        from c360.sources.delimited import DelimitedConnector

        return DelimitedConnector(name, settings, root)
    if isinstance(settings, FixedWidthSource):
        from c360.sources.fixed_width import FixedWidthConnector

        return FixedWidthConnector(name, settings, root)
    if isinstance(settings, JsonLinesSource):
        from c360.sources.json_lines import JsonLinesConnector

        return JsonLinesConnector(name, settings, root)
    if isinstance(settings, RestApiSource):
        from c360.sources.rest_api import RestApiConnector

        return RestApiConnector(name, settings)
    if isinstance(settings, SqlDatabaseSource):
        from c360.sources.sql_database import SqlDatabaseConnector

        return SqlDatabaseConnector(name, settings, base_dir=root)
    raise TypeError(f"no connector for {type(settings).__name__}")
