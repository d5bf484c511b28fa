"""Run one SQL model on DuckDB, in memory, over the lake tables it reads.

The model's whole file (header comments included) is what DuckDB executes, so every position
DuckDB reports is a position in the file: an error names the model file and the line to fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from c360.engine.errors import ModelError
from c360.lake.query import register_table
from c360.lake.tables import load_table

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog


def connect() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection set up the way every model expects.

    UTC, because a model that reads ``current_date`` or casts a timestamp with a time zone must
    give the same rows on every machine (and on Spark, whose session time zone is set likewise).
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def run_model(catalog: SqlCatalog, text: str, path: Path, inputs: Iterable[str]) -> pa.Table:
    """Execute the model ``text`` (read from ``path``) with its ``inputs`` registered; return Arrow."""
    con = connect()
    try:
        for name in inputs:
            table = load_table(catalog, name)
            if table is None:
                raise ModelError(
                    path,
                    None,
                    f"reads {name}, which is not in the lake",
                    hint="ingest, stage or build it first",
                )
            register_table(con, table, name)
        try:
            return con.sql(text).to_arrow_table()
        except duckdb.Error as exc:
            raise _located_error(con, text, path, exc) from None
    finally:
        con.close()


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
