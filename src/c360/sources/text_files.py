"""What the file connectors share: finding files, reading them with DuckDB, writing Parquet."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import TYPE_CHECKING

from c360.errors import SourceError
from c360.sources.base import RAW_PREFIX

if TYPE_CHECKING:
    import duckdb

    from c360.config import FileSourceSettings

FRAMEWORK_COLUMNS = (
    f"{RAW_PREFIX}batch_id",
    f"{RAW_PREFIX}record",
    f"{RAW_PREFIX}line",
    f"{RAW_PREFIX}error",
    f"{RAW_PREFIX}text",
)


def find_files(source: str, root: Path, pattern: str) -> list[Path]:
    full = pattern if Path(pattern).is_absolute() else str(root / pattern)
    matches = sorted(Path(p) for p in glob.glob(full, recursive=True) if Path(p).is_file())
    if not matches:
        raise SourceError(
            source,
            f"no file matches path '{pattern}' (looked for {full})",
            hint="check `path` of this source in c360.toml; it is relative to the project directory",
        )
    return matches


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def new_connection() -> duckdb.DuckDBPyConnection:
    import duckdb

    # Landing is I/O and parsing; two threads match these machines and leave memory for the rest.
    return duckdb.connect(config={"threads": 2, "preserve_insertion_order": True})


def compression_option(settings: FileSourceSettings) -> str:
    return {"auto": "auto", "none": "none", "gzip": "gzip"}[settings.compression]


def read_lines_sql(path: Path, encoding: str = "utf-8", compression: str = "auto") -> str:
    """A DuckDB table expression yielding each physical line of ``path`` as ``line``.

    The NUL delimiter and no quoting make DuckDB's parallel CSV reader a plain line splitter.
    """
    return (
        f"read_csv({sql_string(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false, "
        f"delim = '\\0', quote = '', escape = '', auto_detect = false, strict_mode = false, "
        f"encoding = {sql_string(encoding)}, compression = {sql_string(compression)})"
    )


def framework_columns_sql(batch_id: str, record: str = "row_number() OVER ()") -> str:
    return (
        f"{sql_string(batch_id)} AS _c360_batch_id, {record} AS _c360_record, "
        "CAST(NULL AS BIGINT) AS _c360_line, CAST(NULL AS VARCHAR) AS _c360_error, "
        "CAST(NULL AS VARCHAR) AS _c360_text"
    )


def copy_to_parquet(con: duckdb.DuckDBPyConnection, select_sql: str, out: Path) -> int:
    """Write the rows of ``select_sql`` to ``out``; returns how many rows were written."""
    written = con.execute(f"COPY ({select_sql}) TO {sql_string(str(out))} (FORMAT parquet, COMPRESSION zstd)")
    return int(written.fetchone()[0])


def source_error(source: str, path: Path, exc: Exception, settings: FileSourceSettings) -> SourceError:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = str(exc).lower()
    if "unicode" in lowered or "encoding" in lowered or "utf" in lowered:
        hint = (
            f"the file is not valid {settings.encoding}: "
            "set `encoding` (utf-8, utf-16, latin-1) of this source in c360.toml"
        )
    elif "gzip" in lowered or "compress" in lowered or "zlib" in lowered:
        hint = "the compressed file is truncated or corrupt: re-export it, then run `c360 ingest` again"
    else:
        hint = "fix or re-export the file, then run `c360 ingest` again; nothing of it was landed"
    return SourceError(source, f"cannot read {path.name}: {message}", hint=hint)
