"""Reading a table as it was: at a snapshot id, or at a point in time.

Every commit of an Iceberg table is a snapshot that stays readable until it is expired, so
"what did customer_360 say last Tuesday" is a read, not a restore from backup.

One build commit can write two snapshots (the delete of the replaced rows, then the append of the
new ones); both carry the same ``c360.build`` property. A read "as of" a time skips such an
in-between snapshot, which no reader ever saw as the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from c360.errors import LakeError
from c360.lake.query import register_table
from c360.lake.tables import load_table

if TYPE_CHECKING:
    import duckdb
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

BUILD_PROPERTY = "c360.build"


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot_id: int
    committed_at: datetime
    operation: str
    build_id: str | None
    rows: int | None
    complete: bool  # False for the delete half of a build's overwrite


def snapshots(table: Table) -> list[SnapshotInfo]:
    """The table's snapshots, oldest first."""
    ordered = sorted(table.snapshots(), key=lambda s: (s.timestamp_ms, s.sequence_number or 0))
    found = []
    for i, snapshot in enumerate(ordered):
        build = _property(snapshot, BUILD_PROPERTY)
        following = ordered[i + 1] if i + 1 < len(ordered) else None
        halfway = (
            build is not None and following is not None and _property(following, BUILD_PROPERTY) == build
        )
        total = _property(snapshot, "total-records")
        found.append(
            SnapshotInfo(
                snapshot.snapshot_id,
                datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=UTC),
                snapshot.summary.operation.value if snapshot.summary else "unknown",
                build,
                int(total) if total is not None else None,
                not halfway,
            )
        )
    return found


def _property(snapshot: Snapshot, key: str) -> str | None:
    return snapshot.summary.additional_properties.get(key) if snapshot.summary else None


def snapshot_as_of(table: Table, name: str, as_of: datetime) -> int:
    """The id of the last complete snapshot committed at or before ``as_of`` (naive = local time)."""
    moment = as_of if as_of.tzinfo else as_of.astimezone()
    candidates = [s for s in snapshots(table) if s.complete and s.committed_at <= moment]
    if not candidates:
        first = snapshots(table)[0].committed_at.isoformat() if table.snapshots() else "never"
        raise LakeError(
            f"{name} has no snapshot at or before {moment.isoformat()}",
            hint=f"its first snapshot was committed at {first}",
        )
    return candidates[-1].snapshot_id


def _load(catalog: SqlCatalog, name: str) -> Table:
    table = load_table(catalog, name)
    if table is None:
        raise LakeError(f"no table {name} in the lake", hint="see `c360 catalog` for the tables present")
    return table


def _check_snapshot(table: Table, name: str, snapshot_id: int) -> None:
    if table.snapshot_by_id(snapshot_id) is None:
        recent = ", ".join(str(s.snapshot_id) for s in snapshots(table)[-5:]) or "none"
        raise LakeError(f"{name} has no snapshot {snapshot_id}", hint=f"its latest snapshots: {recent}")


def read_as_of(
    catalog: SqlCatalog, name: str, snapshot_id: int | None = None, as_of: datetime | None = None
) -> pa.Table:
    """Table ``name`` at ``snapshot_id``, or as it was at ``as_of``, or now when neither is given."""
    if snapshot_id is not None and as_of is not None:
        raise LakeError("give a snapshot id or a time, not both")
    table = _load(catalog, name)
    if as_of is not None:
        snapshot_id = snapshot_as_of(table, name, as_of)
    if snapshot_id is None:
        return table.scan().to_arrow()
    _check_snapshot(table, name, snapshot_id)
    return table.scan(snapshot_id=snapshot_id).to_arrow()


def register_table_as_of(con: duckdb.DuckDBPyConnection, table: Table, name: str, snapshot_id: int) -> None:
    """Expose ``table`` at ``snapshot_id`` to DuckDB as the view ``name``, after checking it exists."""
    _check_snapshot(table, name, snapshot_id)
    register_table(con, table, name, snapshot_id)
