"""``raw.batches``: one row per landed batch, and the incremental state derived from it.

The manifest is the only record of what has landed. A source's incremental state (cursor,
watermark) is the state saved with its latest batch, and "files already landed" is the set of
checksums: there is no second store that could disagree with the data.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from c360.lake.tables import append_rows, ensure_table, read_arrow

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table

MANIFEST_TABLE = "raw.batches"
# Snapshot property of raw.<source> carrying the batch's manifest row, so that a crash between
# committing the data and committing the manifest row can be repaired from the data's own commit.
BATCH_PROPERTY = "c360.batch"

MANIFEST_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("batch_id", pa.string()),
        ("kind", pa.string()),
        ("name", pa.string()),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("bytes", pa.int64()),
        ("sha256", pa.string()),
        ("rows", pa.int64()),
        ("rejected", pa.int64()),
        ("schema_fingerprint", pa.string()),
        ("status", pa.string()),
        ("location", pa.string()),
        ("state", pa.string()),
        ("description", pa.string()),
    ]
)


@dataclass(frozen=True)
class BatchRecord:
    source: str
    batch_id: str
    kind: str
    """'file' (bytes landed as received) or 'rows' (rows from a live system, landed as Parquet)."""
    name: str
    received_at: datetime
    bytes: int
    sha256: str
    rows: int
    rejected: int
    schema_fingerprint: str
    status: str
    location: str
    state: str
    description: str

    def to_json(self) -> str:
        data = asdict(self)
        data["received_at"] = self.received_at.isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> BatchRecord:
        data = json.loads(text)
        data["received_at"] = datetime.fromisoformat(data["received_at"])
        return cls(**data)


def manifest_table(catalog: SqlCatalog) -> Table:
    return ensure_table(catalog, MANIFEST_TABLE, MANIFEST_SCHEMA)


def record_batches(table: Table, records: list[BatchRecord]) -> None:
    if records:
        rows = pa.Table.from_pylist([asdict(record) for record in records], schema=MANIFEST_SCHEMA)
        append_rows(table, rows)


class Manifest:
    """What has landed, loaded once per ingest and kept current as batches land."""

    def __init__(self, table: Table) -> None:
        self.table = table
        rows = read_arrow(table).select(["source", "batch_id", "sha256", "state", "received_at"])
        self._checksums: dict[str, set[str]] = {}
        self._batch_ids: set[str] = set()
        self._states: dict[str, tuple[datetime, str]] = {}
        for row in rows.to_pylist():
            self._remember(row["source"], row["batch_id"], row["sha256"], row["state"], row["received_at"])

    def _remember(self, source: str, batch_id: str, sha256: str, state: str, received_at: datetime) -> None:
        self._checksums.setdefault(source, set()).add(sha256)
        self._batch_ids.add(batch_id)
        latest = self._states.get(source)
        if state and (latest is None or received_at >= latest[0]):
            self._states[source] = (received_at, state)

    def has_landed(self, source: str, sha256: str) -> bool:
        return sha256 in self._checksums.get(source, set())

    def has_batch(self, batch_id: str) -> bool:
        return batch_id in self._batch_ids

    def state(self, source: str) -> dict[str, Any]:
        latest = self._states.get(source)
        return json.loads(latest[1]) if latest else {}

    def add(self, records: list[BatchRecord]) -> None:
        record_batches(self.table, records)
        for r in records:
            self._remember(r.source, r.batch_id, r.sha256, r.state, r.received_at)
