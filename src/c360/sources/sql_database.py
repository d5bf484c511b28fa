"""Incremental, Arrow-native extraction of one table from PostgreSQL or SQLite.

Rows come straight into Arrow through ADBC (``COPY ... TO STDOUT (FORMAT binary)`` on PostgreSQL,
the C driver on SQLite), never through a row-by-row Python cursor: that is what makes a million
rows a second possible, and it keeps the source's own types (int4 stays int32, timestamp stays
timestamp).

Incremental by a *watermark* column that only grows (a serial id, an insert timestamp). The state
saved after a batch is ``{"watermark": <largest value landed so far>}`` (an int, a float, or an
ISO/decimal string, so it is JSON); the next run reads ``watermark > saved``.

Why a snapshot and an upper bound
---------------------------------
Each extraction first reads ``max(watermark)`` and then only ``saved < watermark <= max``, both
inside one REPEATABLE READ READ ONLY transaction on PostgreSQL (one read transaction on SQLite,
whose WAL mode gives the same snapshot). Rows committed while the extraction runs are left for
the next run instead of arriving half-seen, and every chunk of one run comes from the same
snapshot.

This is correct under one assumption: **watermark values become visible in increasing order**,
i.e. no row with a smaller watermark commits after a row with a larger one was read. That holds
for a single writer that commits its transactions one after the other (the core-banking writer
of the reference system, :mod:`c360.simulate.transactions_db`). With *concurrent* writers and a
``serial`` id it does not: writer A takes id 100, writer B takes 101 and commits first, an
extraction lands 101, then A commits 100 below the saved watermark and it is never extracted.
For such tables use a watermark set at commit time, or re-read a trailing window and let the
framework deduplicate. Rows whose watermark is NULL are never extracted.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import adbc_driver_manager
import pyarrow as pa
import pyarrow.compute as pc

from c360.config import SqlDatabaseSource
from c360.errors import SourceError
from c360.sources.base import RowBatch, RowConnector

# libpq waits forever for a host that drops packets; a source run should fail instead.
CONNECT_TIMEOUT_SECONDS = 10
# Rows per Arrow batch the SQLite driver produces; its default (1024) costs ~10% in overhead.
SQLITE_BATCH_ROWS = 65_536
# Column that marks the type-hint row prepended to SQLite results (see _SqliteColumn).
_HINT = "_c360_hint"


# --------------------------------------------------------------------------------------- URLs


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed ``postgresql://`` or ``sqlite:///`` URL."""

    kind: Literal["postgresql", "sqlite"]
    uri: str
    """What the driver gets: a libpq URI (with a connect timeout) or a SQLite ``file:`` URI."""
    display: str
    """Where, for messages: ``host:port/db`` or the file path; never the password."""
    host: str = ""
    port: int = 0
    database: str = ""
    path: Path | None = None


def parse_database_url(url: str, base_dir: Path | None = None) -> DatabaseUrl:
    """Parse ``postgresql://user[:pw]@host:port/db`` or ``sqlite:///path.db``.

    ``postgres://`` and a SQLAlchemy driver suffix (``postgresql+psycopg://``) are accepted too,
    so the same URL can serve SQLAlchemy and ADBC. A relative SQLite path (``sqlite:///x.db``) is
    relative to ``base_dir`` (the project directory) or else the working directory; an absolute
    one is written ``sqlite:////abs/x.db`` (SQLAlchemy's convention). Raises ValueError.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r}")
    dialect = scheme.split("+", 1)[0].lower()
    if dialect in ("postgresql", "postgres"):
        parts = urlsplit("postgresql://" + rest)
        query = dict(parse_qsl(parts.query))
        query.setdefault("connect_timeout", str(CONNECT_TIMEOUT_SECONDS))
        uri = urlunsplit(parts._replace(query=urlencode(query)))
        host = parts.hostname or "localhost"
        port = parts.port or 5432
        database = unquote(parts.path.lstrip("/")) or unquote(parts.username or "") or "postgres"
        return DatabaseUrl("postgresql", uri, f"{host}:{port}/{database}", host, port, database)
    if dialect == "sqlite":
        if not rest.startswith("/") or rest in ("/", "/:memory:"):
            raise ValueError(f"not a SQLite file URL (sqlite:///path/to/file.db): {url!r}")
        raw = Path(unquote(rest[1:].split("?", 1)[0]))
        path = raw if raw.is_absolute() else (base_dir or Path.cwd()) / raw
        path = path.resolve()
        # mode=rw: never create an empty database by reading a misspelt path.
        return DatabaseUrl("sqlite", f"file:{quote(str(path))}?mode=rw", str(path), path=path)
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use postgresql:// or sqlite:///")


def split_table(table: str) -> tuple[str | None, str]:
    """``"schema.table"`` → (schema, table); ``"table"`` → (None, table)."""
    schema, dot, name = table.partition(".")
    if not dot:
        return None, table
    if not schema or not name:
        raise ValueError(f"bad table name {table!r}: use 'table' or 'schema.table'")
    return schema, name


def quote_ident(name: str) -> str:
    """Quote an identifier for PostgreSQL and SQLite alike (double quotes, doubled inside)."""
    if "\x00" in name:
        raise ValueError(f"identifier contains a NUL byte: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _qualified(schema: str | None, name: str) -> str:
    return quote_ident(name) if schema is None else f"{quote_ident(schema)}.{quote_ident(name)}"


# ------------------------------------------------------------------------- watermark values

WatermarkValue = int | float | str
"""A watermark as saved in the state: JSON-serializable and exact."""


def _state_value(value: Any) -> WatermarkValue:
    """An Arrow scalar's Python value → what the state stores (exact, JSON-serializable)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"unsupported watermark value {value!r} ({type(value).__name__})")


_PG_INTEGER = {"int2", "int4", "int8", "oid"}
_PG_FLOAT = {"float4", "float8"}
_PG_TEXT = {"text", "varchar", "bpchar", "name", "citext"}


def _pg_literal(pg_type: str, value: WatermarkValue) -> str | None:
    """A validated SQL literal for ``value`` compared to a column of ``pg_type``.

    Numbers and times are inlined (after parsing them back, so nothing but digits, signs, 'T',
    ':', '.' and '-' can reach the SQL): a query without bind parameters is what ADBC runs as a
    streaming ``COPY ... TO STDOUT (FORMAT binary)`` — with parameters it buffers the whole
    result. Returns None for text, which is passed as a bind parameter instead.
    Raises ValueError when ``value`` does not fit the column type.
    """
    if pg_type in _PG_INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        return str(value)
    if pg_type in _PG_FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        return f"'{float(value)!r}'::float8"
    if pg_type == "numeric":
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"expected a decimal number, got {value!r}") from None
        if isinstance(value, bool) or not number.is_finite():
            raise ValueError(f"expected a finite decimal number, got {value!r}")
        return f"'{number}'::numeric"
    if pg_type in ("timestamp", "timestamptz"):
        if not isinstance(value, str):
            raise ValueError(f"expected an ISO timestamp string, got {value!r}")
        moment = datetime.fromisoformat(value)
        if (moment.tzinfo is not None) != (pg_type == "timestamptz"):
            raise ValueError(f"time zone of {value!r} does not fit a {pg_type} column")
        return f"'{moment.isoformat()}'::{pg_type}"
    if pg_type == "date":
        if not isinstance(value, str):
            raise ValueError(f"expected an ISO date string, got {value!r}")
        return f"'{date.fromisoformat(value).isoformat()}'::date"
    if pg_type in _PG_TEXT:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return None
    raise ValueError(f"a {pg_type} column cannot be a watermark (use an integer, timestamp, date or text)")


@dataclass(frozen=True)
class _SqliteColumn:
    """How to read one SQLite column with a stable Arrow type.

    SQLite has no column types, only declared ones, and the ADBC driver infers each column's type
    from the first batch of rows: a column that is NULL there becomes int64 and the read fails
    at the first string further down (apache/arrow-adbc#581). So every result starts with one
    *hint row* holding a value of the declared kind (0, 0.0, '' or X''), dropped after reading;
    columns declared DATE / DATETIME / TIMESTAMP hold ISO text and are cast to Arrow date32 /
    timestamp[us] afterwards.
    """

    name: str
    declared: str
    hint_sql: str
    arrow_type: pa.DataType | None
    """Final type; None: keep what the driver inferred (a column without a declared type)."""
    raw_kind: type | tuple[type, ...]
    """Python type(s) of the stored values, checked against a saved watermark."""

    @classmethod
    def of(cls, name: str, declared: str) -> _SqliteColumn:
        upper = declared.upper()
        # The affinity rules of https://sqlite.org/datatype3.html §3.1, in their order.
        if "INT" in upper:
            return cls(name, declared, "0", pa.int64(), int)
        if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
            return cls(name, declared, "''", pa.string(), str)
        if "BLOB" in upper:
            return cls(name, declared, "X''", pa.binary(), bytes)
        if not upper:
            return cls(name, declared, "NULL", None, (int, float, str))
        if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
            return cls(name, declared, "0.0", pa.float64(), (int, float))
        if "DATETIME" in upper or "TIMESTAMP" in upper:
            return cls(name, declared, "''", pa.timestamp("us"), str)
        if "DATE" in upper:
            return cls(name, declared, "''", pa.date32(), str)
        if "BOOL" in upper:
            return cls(name, declared, "0", pa.bool_(), int)
        if "TIME" in upper:
            return cls(name, declared, "''", pa.string(), str)
        return cls(name, declared, "0.0", pa.float64(), (int, float))


# ---------------------------------------------------------------------------------- chunking


def _cut_point(wm: pa.ChunkedArray, batch_rows: int) -> int | None:
    """Where to end the next chunk of ``wm`` (sorted, longer than ``batch_rows``).

    A chunk's state says "everything up to its last watermark is landed", so a run of equal
    watermarks must never straddle two chunks: a crash after the first would skip the rest
    (the next run reads ``> last``). Cut before the run when that leaves rows, else after it
    (a chunk larger than ``batch_rows``); None when the run may continue past the rows at hand.
    """
    wm = _comparable(wm)
    boundary = wm[batch_rows - 1]
    if not pc.equal(wm[batch_rows], boundary).as_py():
        return batch_rows
    first = pc.index(wm, boundary).as_py()
    if first > 0:
        return first
    after = pc.index(pc.not_equal(wm, boundary), True).as_py()
    return after if after > 0 else None


def _comparable(wm: pa.ChunkedArray) -> pa.ChunkedArray:
    """The watermark as a plain Arrow type that compute kernels can compare.

    PostgreSQL ``numeric`` arrives as an opaque extension type over its text. Compared as
    numbers (float64), '1.5' and '1.50' are equal, as they are to PostgreSQL; values too close
    for float64 to tell apart merely make a chunk longer, which is safe, whereas comparing the
    text would split a run of equal values.
    """
    if not isinstance(wm.type, pa.BaseExtensionType):
        return wm
    storage = pa.chunked_array([chunk.storage for chunk in wm.chunks], wm.type.storage_type)
    try:
        return storage.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return storage


def chunk_by_watermark(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, wm_index: int, batch_rows: int
) -> Iterator[pa.Table]:
    """Regroup a stream sorted by the watermark into tables of about ``batch_rows`` rows.

    A table is yielded only once the row after it has arrived (to see where a run of equal
    watermarks ends) or the stream ended, so every yielded table is complete.
    """
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows > batch_rows:
            table = pa.Table.from_batches(pending, schema)
            cut = _cut_point(table.column(wm_index), batch_rows)
            if cut is None:
                break
            yield table.slice(0, cut)
            rest = table.slice(cut)
            pending, pending_rows = rest.to_batches(), rest.num_rows
    if pending_rows:
        yield pa.Table.from_batches(pending, schema)


# --------------------------------------------------------------------------------- connector


def _driver_message(error: BaseException) -> str:
    text = str(error).strip()
    for prefix in ("IO: [libpq] Failed to connect: ", "IO: [libpq] ", "IO: ", "INVALID_ARGUMENT: [libpq] "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return re.sub(r"\s+", " ", text)


# What a failed read can raise: the driver manager, or Arrow while the stream is consumed.
_DRIVER_ERRORS = (adbc_driver_manager.Error, pa.ArrowException, OSError)


@dataclass
class _Plan:
    """One extraction, ready to stream: the query and how to turn its result into RowBatches."""

    query: str
    params: tuple[Any, ...] | None
    wm_column: str
    lower: WatermarkValue | None
    upper: WatermarkValue
    finish: Callable[[pa.Table], pa.Table]
    """Raw chunk → the table to land (casts for SQLite); the state comes from the raw chunk."""


class SqlDatabaseConnector(RowConnector):
    """Pull new rows of one table of a PostgreSQL or SQLite database, by a watermark column.

    See the module docstring for the consistency guarantee and its single-writer assumption.
    ``base_dir`` anchors a relative ``sqlite:///`` path (pass the project directory).
    """

    def __init__(self, name: str, settings: SqlDatabaseSource, *, base_dir: Path | None = None) -> None:
        super().__init__(name)
        self.settings = settings
        try:
            self._url = parse_database_url(settings.url, base_dir)
            self._schema, self._table = split_table(settings.table)
        except ValueError as exc:
            raise SourceError(
                name, str(exc), hint="fix `url` / `table` of this source in c360.toml"
            ) from None

    # -- public --------------------------------------------------------------------------------

    def extract(self, state: dict[str, Any]) -> Iterator[RowBatch]:
        """Yield the rows with a watermark above ``state["watermark"]`` (all rows when absent).

        One RowBatch per ``batch_rows`` rows (more only when a run of equal watermarks is longer),
        each fully read, in watermark order, with the state that holds once it is landed.
        Nothing is yielded when there is nothing new.
        """
        lower = (state or {}).get("watermark")
        if lower is not None and (isinstance(lower, bool) or not isinstance(lower, int | float | str)):
            raise SourceError(
                self.name,
                f"saved state has a watermark of unexpected type: {lower!r}",
                hint="reset this source's state to extract the table again from the start",
            )
        if self._url.kind == "postgresql":
            yield from self._extract_postgres(lower)
        else:
            yield from self._extract_sqlite(lower)

    # -- shared --------------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return f"table {self.settings.table!r} of {self._url.display}"

    def _fail(self, message: str, hint: str) -> SourceError:
        return SourceError(self.name, message, hint=hint)

    def _read_failed(self, error: BaseException, rows: int, names: list[str]) -> SourceError:
        detail = _driver_message(error)
        mismatch = re.search(r"Type mismatch in column (\d+)", detail)
        if mismatch and int(mismatch.group(1)) < len(names):
            # SQLite: a value whose storage class differs from the column's declared type.
            column = names[int(mismatch.group(1))]
            detail = f"column {column!r} holds a value of another type than declared ({detail})"
        return self._fail(
            f"reading {self._where} failed after {rows:,} rows were delivered: {detail}",
            hint="the batch being read was not delivered; fix the cause and run again to resume from "
            "the saved watermark",
        )

    def _bad_state(self, lower: WatermarkValue, column: str, declared: str, why: str) -> SourceError:
        return self._fail(
            f"saved watermark {lower!r} does not fit column {column!r} ({declared}) of {self._where}: {why}",
            hint="the watermark column or its type changed; reset this source's state to extract the "
            "table again from the start",
        )

    def _missing_table(self, tables: list[str]) -> SourceError:
        shown = ", ".join(tables[:30]) + (f" … ({len(tables)} in all)" if len(tables) > 30 else "")
        return self._fail(
            f"no table {self.settings.table!r} in {self._url.display}",
            hint=f"tables there: {shown or '(none)'}; fix `table` in c360.toml, or create the table "
            "(e.g. `c360 simulate transactions --db ...`)",
        )

    def _check_watermark(self, columns: list[str]) -> int:
        if self.settings.watermark not in columns:
            raise self._fail(
                f"{self._where} has no column {self.settings.watermark!r}",
                hint=f"set `watermark` to one of its columns: {', '.join(columns)}",
            )
        return columns.index(self.settings.watermark)

    def _describe(self, rows: int, lower: WatermarkValue | None, last: WatermarkValue) -> str:
        since = "start" if lower is None else repr(lower)
        return f"{rows:,} rows of {self.settings.table} with {self.settings.watermark} in ({since}, {last!r}]"

    def _stream(
        self, reader: pa.RecordBatchReader, batches: Iterator[pa.RecordBatch], plan: _Plan
    ) -> Iterator[RowBatch]:
        wm_index = reader.schema.get_field_index(plan.wm_column) - (1 if _HINT in reader.schema.names else 0)
        schema = reader.schema if _HINT not in reader.schema.names else reader.schema.remove(0)
        delivered = 0
        lower = plan.lower
        chunks = chunk_by_watermark(batches, schema, wm_index, self.settings.batch_rows)
        while True:
            try:
                raw = next(chunks, None)
                if raw is None:
                    return
                last = _state_value(raw.column(wm_index)[-1].as_py())
                table = plan.finish(raw)
            except _DRIVER_ERRORS as exc:
                raise self._read_failed(exc, delivered, reader.schema.names) from None
            yield RowBatch(table, {"watermark": last}, self._describe(table.num_rows, lower, last))
            delivered += table.num_rows
            lower = last

    # -- PostgreSQL ----------------------------------------------------------------------------

    def _connect_postgres(self) -> Any:
        import adbc_driver_postgresql.dbapi as pg_dbapi

        url = self._url
        try:
            return pg_dbapi.connect(url.uri, autocommit=True)
        except _DRIVER_ERRORS as exc:
            detail = _driver_message(exc)
            lowered = detail.lower()
            if "does not exist" in lowered and "database" in lowered:
                hint = f"create database {url.database!r} or fix the database name in `url` in c360.toml"
            elif any(w in lowered for w in ("password", "authentication", "role", "pg_hba")):
                hint = (
                    "check the user and password in `url` in c360.toml (a password can also come from "
                    "PGPASSWORD or ~/.pgpass) and that this user may connect"
                )
            else:
                hint = (
                    f"is PostgreSQL running at {url.host}:{url.port} and reachable from here? "
                    "check `url` in c360.toml"
                )
            raise self._fail(f"cannot connect to PostgreSQL at {url.display}: {detail}", hint) from None

    def _extract_postgres(self, lower: WatermarkValue | None) -> Iterator[RowBatch]:
        conn = self._connect_postgres()
        cursor = conn.cursor()
        reader: pa.RecordBatchReader | None = None
        try:
            try:
                # One snapshot for max() and every row read after it (see the module docstring).
                cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                plan = self._plan_postgres(cursor, lower)
                if plan is None:
                    return
                cursor.execute(plan.query, plan.params)
                reader = cursor.fetch_record_batch()
            except _DRIVER_ERRORS as exc:
                raise self._fail(
                    f"querying {self._where} failed: {_driver_message(exc)}",
                    hint="check that the c360 user may SELECT from this table",
                ) from None
            yield from self._stream(reader, iter(reader), plan)
        finally:
            # Closing ends the read-only transaction; there is nothing to commit.
            _close_quietly(reader, cursor, conn)

    def _plan_postgres(self, cursor: Any, lower: WatermarkValue | None) -> _Plan | None:
        target = _qualified(self._schema, self._table)
        cursor.execute(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (target,),
        )
        columns = cursor.fetch_arrow_table().column(0).to_pylist()
        if not columns:
            cursor.execute(
                "SELECT CASE WHEN table_schema = current_schema() THEN table_name::text "
                "ELSE table_schema || '.' || table_name END FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
                "ORDER BY table_schema <> current_schema(), 1"
            )
            raise self._missing_table(cursor.fetch_arrow_table().column(0).to_pylist())
        wm_name = self.settings.watermark
        self._check_watermark(columns)
        wm = quote_ident(wm_name)
        cursor.execute(f"SELECT {wm} FROM {target} LIMIT 0")
        field = cursor.fetch_arrow_table().schema.field(0)
        pg_type = (field.metadata or {}).get(b"POSTGRESQL:type", b"?").decode()

        cursor.execute(f"SELECT max({wm}) FROM {target}")
        top = cursor.fetch_arrow_table().column(0)[0].as_py()
        if top is None:
            return None
        upper = _state_value(top)
        try:
            upper_sql = _pg_literal(pg_type, upper)
        except ValueError as exc:
            raise self._fail(
                f"column {wm_name!r} of {self._where} cannot be the watermark: {exc}",
                hint="set `watermark` to a column that only grows: a serial id or an insert timestamp",
            ) from None
        try:
            lower_sql = None if lower is None else _pg_literal(pg_type, lower)
        except ValueError as exc:
            raise self._bad_state(lower, wm_name, pg_type, str(exc)) from None

        params: list[Any] = []
        conditions = []
        for op, value, literal in ((">", lower, lower_sql), ("<=", upper, upper_sql)):
            if value is None:
                continue
            if literal is None:  # text: a bind parameter
                params.append(value)
                literal = f"${len(params)}"
            conditions.append(f"{wm} {op} {literal}")
        query = f"SELECT * FROM {target} WHERE {' AND '.join(conditions)} ORDER BY {wm}"
        return _Plan(query, tuple(params) or None, wm_name, lower, upper, finish=lambda table: table)

    # -- SQLite --------------------------------------------------------------------------------

    def _extract_sqlite(self, lower: WatermarkValue | None) -> Iterator[RowBatch]:
        import adbc_driver_sqlite.dbapi as sqlite_dbapi

        path = self._url.path
        assert path is not None
        if not path.is_file():
            raise self._fail(
                f"SQLite database file {path} does not exist",
                hint="fix the path in `url` in c360.toml (sqlite:///relative/to/project.db or "
                "sqlite:////absolute/path.db), or create it with `c360 simulate transactions`",
            )
        conn = cursor = reader = None
        try:
            try:
                conn = sqlite_dbapi.connect(self._url.uri, autocommit=True)
                cursor = conn.cursor()
                # A writer may hold the lock briefly (WAL checkpoint); wait instead of failing.
                cursor.execute("PRAGMA busy_timeout = 10000")
                cursor.fetchall()
                cursor.execute("BEGIN")
                plan = self._plan_sqlite(cursor, lower)
                if plan is None:
                    return
                cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(SQLITE_BATCH_ROWS)})
                cursor.execute(plan.query, plan.params)
                reader = cursor.fetch_record_batch()
            except _DRIVER_ERRORS as exc:
                raise self._fail(
                    f"querying {self._where} failed: {_driver_message(exc)}",
                    hint="check that the file is a SQLite database that this user may read",
                ) from None
            yield from self._stream(reader, _without_hint_row(reader), plan)
        finally:
            _close_quietly(reader, cursor, conn)

    def _plan_sqlite(self, cursor: Any, lower: WatermarkValue | None) -> _Plan | None:
        schema_sql = "" if self._schema is None else f"{quote_ident(self._schema)}."
        target = _qualified(self._schema, self._table)
        # Only text columns of table_info: the driver infers types from the first rows, and
        # dflt_value (NULL, then text) would trip it.
        cursor.execute(
            "SELECT name, type FROM pragma_table_info(?, ?)", (self._table, self._schema or "main")
        )
        info = cursor.fetchall()
        if not info:
            cursor.execute(
                f"SELECT name FROM {schema_sql}sqlite_master WHERE type IN ('table', 'view') ORDER BY 1"
            )
            raise self._missing_table(
                [row[0] for row in cursor.fetchall() if not row[0].startswith("sqlite_")]
            )
        columns = [_SqliteColumn.of(name, declared or "") for name, declared in info]
        wm_col = columns[self._check_watermark([c.name for c in columns])]
        wm = quote_ident(wm_col.name)
        if lower is not None and (isinstance(lower, bool) or not isinstance(lower, wm_col.raw_kind)):
            raise self._bad_state(lower, wm_col.name, wm_col.declared or "no declared type", "wrong kind")

        cursor.execute(f"SELECT max({wm}) FROM {target}")
        top = cursor.fetchall()[0][0]
        if top is None:
            return None
        if isinstance(top, bytes):
            raise self._fail(
                f"column {wm_col.name!r} of {self._where} holds BLOBs and cannot be the watermark",
                hint="set `watermark` to a column that only grows: an INTEGER PRIMARY KEY or a timestamp",
            )
        upper = _state_value(top)

        names = ", ".join(quote_ident(c.name) for c in columns)
        hints = ", ".join(f"{c.hint_sql} AS {quote_ident(c.name)}" for c in columns)
        where = f"{wm} <= ?" if lower is None else f"{wm} > ? AND {wm} <= ?"
        query = (
            f"SELECT 0 AS {_HINT}, {hints} UNION ALL SELECT * FROM "
            f"(SELECT 1, {names} FROM {target} WHERE {where} ORDER BY {wm})"
        )
        params = (upper,) if lower is None else (lower, upper)
        target_types = [c.arrow_type for c in columns]

        def finish(table: pa.Table) -> pa.Table:
            cast = []
            for index, wanted in enumerate(target_types):
                column = table.column(index)
                if wanted is None or column.type == wanted:
                    cast.append(column)
                    continue
                try:
                    cast.append(column.cast(wanted))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    col = columns[index]
                    raise self._fail(
                        f"column {col.name!r} of {self._where} is declared {col.declared} but holds a "
                        f"value that is not one: {exc}",
                        hint="fix the value in the source, or declare the column as TEXT",
                    ) from None
            return pa.Table.from_arrays(cast, names=table.column_names)

        return _Plan(query, params, wm_col.name, lower, upper, finish)


def _without_hint_row(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """Drop the type-hint row (first row) and the marker column from a SQLite result."""
    first = True
    for batch in reader:
        if first:
            first = False
            if batch.num_rows == 0 or batch.column(0)[0].as_py() != 0:
                # SQLite evaluated UNION ALL out of order: fail loudly rather than land a fake row.
                raise pa.ArrowInvalid("the type-hint row did not come first")
            batch = batch.slice(1)
        yield batch.drop_columns([_HINT])


def _close_quietly(*handles: Any) -> None:
    """Close reader, cursor and connection; a failure to close must not mask the real error."""
    for handle in handles:
        if handle is None:
            continue
        with contextlib.suppress(Exception):  # best effort: the connection may already be gone
            handle.close()
