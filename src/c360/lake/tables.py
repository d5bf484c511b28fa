"""Reading and writing lake tables, each write one atomic Iceberg commit."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from c360.lake.catalog import split_name

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table


def ensure_table(catalog: SqlCatalog, name: str, schema: pa.Schema) -> Table:
    split_name(name)
    # Iceberg "required" columns reject Parquet written by DuckDB (all optional), and not-null is
    # enforced by the stage contracts anyway, so lake columns are declared optional.
    optional = pa.schema([field.with_nullable(True) for field in schema])
    return catalog.create_table_if_not_exists(name, schema=optional)


def load_table(catalog: SqlCatalog, name: str) -> Table | None:
    from pyiceberg.exceptions import NoSuchTableError

    try:
        return catalog.load_table(split_name(name))
    except NoSuchTableError:
        return None


def commit_parquet(
    table: Table, files: Iterable[Path], schema: pa.Schema, properties: dict[str, str]
) -> None:
    """Add already-written Parquet files to ``table`` in one snapshot, evolving its schema first.

    New columns (schema drift) are added by name in the same transaction, so readers see either
    the old table or the new table with its new column, never one without the other.
    """
    with table.transaction() as tx:
        current = {field.name for field in tx.table_metadata.schema().fields}
        if any(field.name not in current for field in schema):
            with tx.update_schema() as update:
                update.union_by_name(pa.schema([field.with_nullable(True) for field in schema]))
        tx.add_files(
            [str(path) for path in files], snapshot_properties=properties, check_duplicate_files=False
        )


def append_rows(table: Table, rows: pa.Table, properties: dict[str, str] | None = None) -> None:
    table.append(rows, snapshot_properties=properties or {})


def read_arrow(table: Table, row_filter: str | None = None) -> pa.Table:
    scan = table.scan(row_filter=row_filter) if row_filter else table.scan()
    return scan.to_arrow()
