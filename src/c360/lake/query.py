"""SQL over lake tables with DuckDB, always through the catalog.

Tables are exposed to DuckDB as views over exactly the data files of the current snapshot (a plain
Parquet glob over the table directory would also read files that later snapshots removed).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from c360.errors import C360Error
from c360.lake.catalog import ZONES, split_name
from c360.lake.tables import load_table

if TYPE_CHECKING:
    import duckdb
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table


class QueryError(C360Error):
    exit_code = 2


def _local(path: str) -> str:
    return path.removeprefix("file://")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def register_table(
    con: duckdb.DuckDBPyConnection, table: Table, name: str, snapshot_id: int | None = None
) -> None:
    """Expose ``table`` to DuckDB as the view ``name`` (zone-qualified), now or at ``snapshot_id``.

    The view reads exactly the data files of that snapshot, with that snapshot's schema (a column
    added later does not exist in an older snapshot).
    """
    zone, short = split_name(name)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {zone}")
    scan = table.scan(snapshot_id=snapshot_id) if snapshot_id is not None else table.scan()
    tasks = list(scan.plan_files())
    schema = scan.projection()
    target = f"{zone}.{_quote(short)}"
    if not tasks or any(task.delete_files for task in tasks):
        # Deletes need Iceberg's merge-on-read logic; pyiceberg applies it while producing Arrow.
        data = scan.to_arrow() if tasks else schema.as_arrow().empty_table()
        arrow_name = f"__arrow_{zone}_{short}_{snapshot_id or 'current'}"
        con.register(arrow_name, data)
        con.execute(f"CREATE OR REPLACE VIEW {target} AS SELECT * FROM {_quote(arrow_name)}")
        return
    files = ", ".join("'" + _local(task.file.file_path).replace("'", "''") + "'" for task in tasks)
    source = f"read_parquet([{files}], union_by_name = true)"
    present = set(con.sql(f"SELECT * FROM {source} LIMIT 0").columns)
    columns = []
    for field in schema.as_arrow():
        if field.name in present:
            columns.append(_quote(field.name))
        else:
            # A column added by schema evolution after these files were written reads as null.
            duck_type = con.from_arrow(pa.table({field.name: pa.array([], field.type)})).types[0]
            columns.append(f"CAST(NULL AS {duck_type}) AS {_quote(field.name)}")
    con.execute(f"CREATE OR REPLACE VIEW {target} AS SELECT {', '.join(columns)} FROM {source}")


def referenced_tables(sql: str) -> list[str]:
    import sqlglot
    from sqlglot import exp

    try:
        statements = sqlglot.parse(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise QueryError(f"cannot parse the SQL: {exc}") from None
    names: list[str] = []
    for statement in statements:
        if statement is None:
            continue
        for table in statement.find_all(exp.Table):
            if table.db in ZONES and f"{table.db}.{table.name}" not in names:
                names.append(f"{table.db}.{table.name}")
    return names


def connect(catalog: SqlCatalog, sql: str, as_of: datetime | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with every lake table that ``sql`` references registered.

    With ``as_of``, each table is read as it was at that moment (its last snapshot committed then).
    """
    import duckdb

    from c360.lake.time_travel import snapshot_as_of

    con = duckdb.connect()
    for name in referenced_tables(sql):
        table = load_table(catalog, name)
        if table is None:
            known = sorted(f"{zone}.{ident[-1]}" for zone in ZONES for ident in catalog.list_tables(zone))
            raise QueryError(
                f"no table {name} in the lake",
                hint=f"tables present: {', '.join(known) or 'none yet (run `c360 ingest`)'}",
            )
        register_table(con, table, name, snapshot_as_of(table, name, as_of) if as_of else None)
    return con


def run_query(catalog: SqlCatalog, sql: str, as_of: datetime | None = None) -> pa.Table:
    import duckdb

    con = connect(catalog, sql, as_of)
    try:
        relation = con.sql(sql)
        return relation.to_arrow_table() if relation is not None else pa.table({})
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {exc}") from None
