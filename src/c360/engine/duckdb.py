"""Run one SQL model on DuckDB over the lake tables it reads.

The model's whole file (header comments included) is what DuckDB executes, so every position
DuckDB reports is a position in the file: an error names the model file and the line to fix.

A result never passes through Python: ``copy_to_parquet`` has DuckDB stream it into Parquet
files (spilling to disk past its memory limit), which the caller commits to Iceberg as they are.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from c360.engine.errors import ModelError
from c360.lake.query import register_table
from c360.lake.tables import load_table

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table


def connect() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection set up the way every model expects.

    UTC, because a model that reads ``current_date`` or casts a timestamp with a time zone must
    give the same rows on every machine (and on Spark, whose session time zone is set likewise).
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


# Share of the machine's memory a build's DuckDB may use before it spills to disk: DuckDB's own
# default (80 %) leaves too little to Python, pyiceberg and whatever else runs beside the build.
MEMORY_SHARE = 0.6


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    rows: int


def memory_limit() -> str:
    """DuckDB's memory_limit for a build: a share of physical memory, in MiB."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{int(total * MEMORY_SHARE) // 2**20}MB"


@contextmanager
def open_model(
    catalog: SqlCatalog,
    path: Path,
    inputs: Iterable[str],
    spill_dir: Path,
    days: dict[str, tuple[str, tuple[date, ...]]] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with the model's ``inputs`` registered, set to spill into ``spill_dir``.

    ``days`` maps an input to a date or time column and the days of it the model may see: the
    input is then a view of only those rows (what an incremental build needs to read).
    Threads stay at DuckDB's default (every core): a build is the one heavy job of its process.
    """
    con = connect()
    try:
        spill_dir.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET memory_limit = '{memory_limit()}'")
        con.execute(f"SET temp_directory = '{_literal(str(spill_dir))}'")
        con.execute("SET enable_progress_bar = false")
        for name in inputs:
            table = load_table(catalog, name)
            if table is None:
                raise ModelError(
                    path,
                    None,
                    f"reads {name}, which is not in the lake",
                    hint="ingest, stage or build it first",
                )
            if name in (days or {}):
                assert days is not None
                column, seen = days[name]
                _register_days(con, table, name, column, seen)
            else:
                register_table(con, table, name)
        yield con
    finally:
        con.close()


def _register_days(
    con: duckdb.DuckDBPyConnection, table: Table, name: str, column: str, days: tuple[date, ...]
) -> None:
    """Register ``name`` as a view of ``table``'s rows whose ``column`` falls on one of ``days``.

    The range condition on the bare column lets DuckDB skip whole files and row groups by their
    statistics; the day list then keeps exactly the days asked for.
    """
    zone, short = name.split(".")
    whole = f"{zone}.{_quote('__c360_whole_' + short)}"
    register_table(con, table, f"{zone}.__c360_whole_{short}")
    quoted = _quote(column)
    kind = con.sql(f"SELECT {quoted} FROM {whole} LIMIT 0").types[0]
    first, last = min(days), max(days) + timedelta(days=1)
    listed = ", ".join(f"DATE '{day.isoformat()}'" for day in days) or "NULL"
    if str(kind) == "DATE":
        condition = f"{quoted} >= DATE '{first}' AND {quoted} < DATE '{last}' AND {quoted} IN ({listed})"
    else:
        condition = (
            f"{quoted} >= CAST(DATE '{first}' AS {kind}) AND {quoted} < CAST(DATE '{last}' AS {kind}) "
            f"AND CAST({quoted} AS DATE) IN ({listed})"
        )
    con.execute(f"CREATE OR REPLACE VIEW {zone}.{_quote(short)} AS SELECT * FROM {whole} WHERE {condition}")


def result_schema(con: duckdb.DuckDBPyConnection, text: str, path: Path) -> pa.Schema:
    """The Arrow schema of the model's result; DuckDB only binds the query, it runs nothing."""
    try:
        return con.sql(text).limit(0).to_arrow_table().schema
    except duckdb.Error as exc:
        raise _located_error(con, text, path, exc) from None


def copy_to_parquet(
    con: duckdb.DuckDBPyConnection,
    query: str,
    directory: Path,
    *,
    text: str,
    path: Path,
    partition: str | None = None,
    ordered: bool = True,
) -> list[WrittenFile]:
    """Write the rows of ``query`` (built around the model ``text``) as Parquet under ``directory``.

    With ``partition``, one directory per value and every file holding a single value, the layout
    an Iceberg identity partition needs. DuckDB's partitioned writer interleaves its threads'
    rows, so an ``ordered`` result is first collected in a temporary table (which spills like any
    other) and then written by a single thread, in order: a rebuild writes the same files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = _literal(str(directory))
    try:
        if partition is not None and not ordered:
            copied = con.execute(
                f"COPY ({query}) TO '{target}' (FORMAT parquet, PARTITION_BY ({_quote(partition)}), "
                "WRITE_PARTITION_COLUMNS true, RETURN_STATS)"
            ).fetchall()
        elif partition is None:
            copied = con.execute(
                f"COPY ({query}) TO '{target}/part.parquet' (FORMAT parquet, RETURN_STATS)"
            ).fetchall()
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE __c360_result AS {query}")
            threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
            con.execute("SET threads = 1")
            copied = con.execute(
                f"COPY __c360_result TO '{target}' (FORMAT parquet, PARTITION_BY ({_quote(partition)}), "
                "WRITE_PARTITION_COLUMNS true, RETURN_STATS)"
            ).fetchall()
            con.execute(f"SET threads = {threads}")
            con.execute("DROP TABLE __c360_result")
    except duckdb.Error as exc:
        raise _located_error(con, text, path, exc) from None
    return [WrittenFile(Path(row[0]), int(row[1])) for row in copied]


def _literal(value: str) -> str:
    return value.replace("'", "''")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _located_error(con: duckdb.DuckDBPyConnection, text: str, path: Path, exc: duckdb.Error) -> ModelError:
    """The error of ``exc`` with its line in the model file.

    The relational API drops error positions, but with ``errors_as_json`` a plain ``execute``
    reports them as byte offsets into the text. Errors are deterministic, so the statement is run
    once more that way only after it failed (never on the successful path); the connection is
    closed right after, so the setting goes with it.
    """
    message, line = str(exc), None
    try:
        con.execute("SET errors_as_json = true")
        con.execute(text)
    except duckdb.Error as located:
        details = _json_details(str(located))
        if details is not None:
            message = f"{details.get('exception_type', 'SQL')} Error: {details.get('exception_message', '')}"
            if "position" in details:
                offset = int(details["position"])
                line = text.encode("utf-8")[:offset].count(b"\n") + 1
    return ModelError(path, line, message, hint="fix the SQL of the model at that line")


def _json_details(message: str) -> dict | None:
    start = message.find("{")
    if start < 0:
        return None
    try:
        details = json.loads(message[start:])
    except json.JSONDecodeError:
        return None
    return details if isinstance(details, dict) else None
