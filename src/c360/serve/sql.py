"""Read-only SQL over the lake for the API (``POST /v1/sql``).

Three layers, each enough on its own for the common escapes:

1. the text is parsed with sqlglot and must be exactly one ``SELECT`` (or ``WITH ... SELECT``,
   or a set operation of selects); table functions that read files or the environment are
   refused by name;
2. the lake tables it references are materialized as Arrow in memory (PII columns masked for
   roles without PII; non-model tables such as ``stage.*`` refused for them, since their PII is
   not tagged), *then* the DuckDB connection is locked: ``enable_external_access=false``,
   ``autoinstall/autoload_known_extensions=false``, ``lock_configuration=true``. (Views over
   the Parquet files stop working once external access is off, hence Arrow.) So ``read_csv``,
   ``COPY``, ``ATTACH``, ``INSTALL`` and ``SET`` fail inside DuckDB even if they got past (1);
3. a row limit (one row more is fetched to set ``truncated``) and a time limit enforced by
   ``con.interrupt()`` from a timer thread.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from c360.errors import C360Error
from c360.lake.catalog import ZONES
from c360.serve.pii import mask_arrow

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table

DENIED_FUNCTIONS = frozenset(
    {
        "read_csv",
        "read_csv_auto",
        "read_parquet",
        "parquet_scan",
        "read_json",
        "read_json_auto",
        "read_json_objects",
        "read_ndjson",
        "read_ndjson_auto",
        "read_ndjson_objects",
        "read_text",
        "read_blob",
        "read_xlsx",
        "glob",
        "sniff_csv",
        "parquet_metadata",
        "parquet_schema",
        "parquet_file_metadata",
        "parquet_kv_metadata",
        "iceberg_scan",
        "delta_scan",
        "getenv",
        "query",
        "query_table",
        "sqlite_scan",
        "postgres_scan",
        "duckdb_secrets",
        "duckdb_settings",
        "duckdb_extensions",
        "duckdb_databases",
        "current_setting",
    }
)
LOCK_STATEMENTS = (
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)


class SqlRefused(C360Error):
    """The statement is not allowed (HTTP 400)."""


class SqlForbidden(C360Error):
    """The statement reads tables the caller's role may not read (HTTP 403)."""


class SqlTimeout(C360Error):
    """The statement ran longer than the time limit (HTTP 408)."""


@dataclass(frozen=True)
class SqlResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    seconds: float


def check_sql(sql: str) -> list[str]:
    """Refuse anything but one read-only query; return the lake tables it references."""
    import sqlglot
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as exc:
        raise SqlRefused(f"cannot parse the SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise SqlRefused(f"exactly one statement is allowed, got {len(statements)}")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise SqlRefused(
            f"only SELECT queries are allowed, not {statement.key.upper()}",
            hint="write one SELECT (or WITH ... SELECT) statement",
        )
    for node in statement.walk():
        if isinstance(node, exp.Into | exp.DML | exp.Create | exp.Drop | exp.Command | exp.Set | exp.Copy):
            raise SqlRefused(f"{node.key.upper()} is not allowed inside a query")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in DENIED_FUNCTIONS or name.startswith(("read_", "duckdb_", "pragma_")):
                raise SqlRefused(f"function {name}() is not allowed")
        if (
            isinstance(node, exp.Table)
            and not isinstance(node.this, exp.Identifier)
            and node.this is not None
        ):
            fn = node.this
            name = (
                fn.name if isinstance(fn, exp.Anonymous) else getattr(fn, "sql_name", lambda: "")()
            ).lower()
            if name in DENIED_FUNCTIONS or name.startswith(("read_", "duckdb_", "pragma_")):
                raise SqlRefused(f"table function {name}() is not allowed")
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            text = node.name
            if "/" in text or ("." in text and not node.db):
                raise SqlRefused(f"'{text}' is not a lake table; files cannot be read")
    tables: list[str] = []
    for table in statement.find_all(exp.Table):
        if table.db in ZONES and f"{table.db}.{table.name}" not in tables:
            tables.append(f"{table.db}.{table.name}")
        elif table.catalog:
            raise SqlRefused(f"'{table.sql(dialect='duckdb')}' is not a lake table")
    return tables


class ArrowCache:
    """The last few (table, snapshot, masked) materializations, so repeated queries skip the scan.

    Keyed by the table's current snapshot id: a new commit to the table is a new key.
    """

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int | None, bool], pa.Table] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str, table: Table, pii: bool, pii_columns: frozenset[str]) -> pa.Table:
        snapshot = table.current_snapshot()
        key = (name, snapshot.snapshot_id if snapshot else None, pii)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        data = table.scan().to_arrow()
        if not pii:
            data = mask_arrow(data, pii_columns)
        with self._lock:
            self._items[key] = data
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return data


def run_sql(
    catalog: SqlCatalog,
    sql: str,
    *,
    limit: int,
    timeout_seconds: float,
    pii: bool,
    pii_columns: dict[str, frozenset[str]],
    cache: ArrowCache | None = None,
) -> SqlResult:
    """Run one checked query over the lake tables it names, locked down, within the limits."""
    import duckdb

    from c360.lake.query import QueryError, _quote
    from c360.lake.tables import load_table

    tables = check_sql(sql)
    if not pii:
        unknown = [name for name in tables if name not in pii_columns]
        if unknown:
            raise SqlForbidden(
                f"your role may not read {', '.join(unknown)} (not a model table with tagged PII columns)",
                hint="query the analytics models, e.g. analytics.customer_360",
            )
    started = time.perf_counter()
    con = duckdb.connect(config={"threads": 2})
    try:
        for name in tables:
            table = load_table(catalog, name)
            if table is None:
                raise QueryError(f"no table {name} in the lake")
            data = (cache or ArrowCache(0)).get(name, table, pii, pii_columns.get(name, frozenset()))
            zone, short = name.split(".", 1)
            arrow_name = f"__lake_{zone}_{short}"
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {zone}")
            con.register(arrow_name, data)
            con.execute(f"CREATE VIEW {zone}.{_quote(short)} AS SELECT * FROM {_quote(arrow_name)}")
        for statement in LOCK_STATEMENTS:
            con.execute(statement)
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            con.interrupt()

        timer = threading.Timer(timeout_seconds, stop)
        timer.start()
        try:
            cursor = con.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            fetched = cursor.fetchmany(limit + 1)
        except duckdb.Error as exc:
            if timed_out.is_set():
                raise SqlTimeout(f"the query ran longer than {timeout_seconds:g} s and was stopped") from None
            raise SqlRefused(f"query failed: {str(exc).splitlines()[0]}") from None
        finally:
            timer.cancel()
        return SqlResult(
            columns,
            [list(row) for row in fetched[:limit]],
            len(fetched) > limit,
            time.perf_counter() - started,
        )
    finally:
        con.close()
