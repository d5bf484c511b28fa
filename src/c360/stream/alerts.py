"""Alert storage: ``analytics.stream_alerts`` in the lake, one Iceberg commit per flush.

Every alert has a stable ``alert_id`` (a hash of what identifies it), and the store skips ids it
already holds, so replaying the same recording twice stores its alerts once. The set of stored
ids is read when the store opens: two stores writing the same table at once can still both
store an alert (deduplicate with ``SELECT DISTINCT ON (alert_id)`` if that can happen).

``AlertStore`` is also a sink (``send`` / ``close``), so it can sit among the other sinks.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from c360.lake.tables import append_rows, ensure_table
from c360.stream.processor import Alert

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

ALERTS_TABLE = "analytics.stream_alerts"
_TIME = pa.timestamp("us", tz="UTC")
ALERTS_SCHEMA = pa.schema(
    [
        ("alert_id", pa.string()),
        ("detector", pa.string()),
        ("key_type", pa.string()),
        ("key_value", pa.string()),
        ("window_start", _TIME),
        ("window_end", _TIME),
        ("first_event_time", _TIME),
        ("detected_at_event_time", _TIME),
        ("severity", pa.string()),
        ("count", pa.int64()),
        ("recorded_at", _TIME),  # wall-clock time the store received the alert
    ]
)


def alert_id(alert: Alert) -> str:
    """Stable id of an alert: the same detector, key, window and severity always give the same id.

    The severity is part of it because the processor re-alerts within one window when the severity
    rises (medium, then high): that escalation is a distinct alert, not a duplicate.
    """
    parts = (
        alert.detector,
        alert.key_type,
        alert.key_value,
        alert.window_start.astimezone(UTC).isoformat(),
        alert.severity,
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def alert_row(alert: Alert, recorded_at: datetime) -> dict[str, Any]:
    return {"alert_id": alert_id(alert), **asdict(alert), "recorded_at": recorded_at}


class AlertStore:
    """Buffers alerts and appends them to ``analytics.stream_alerts``, one commit per ``flush()``.

    ``send`` flushes by itself once ``flush_every`` alerts are waiting; ``close`` flushes the rest.
    A failed commit keeps the alerts waiting, so the next flush tries them again.
    """

    def __init__(self, catalog: SqlCatalog, flush_every: int = 1_000, name: str = ALERTS_TABLE) -> None:
        if flush_every < 1:
            raise ValueError("flush_every must be at least 1")
        self.table = ensure_table(catalog, name, ALERTS_SCHEMA)
        self.flush_every = flush_every
        ids = self.table.scan(selected_fields=("alert_id",)).to_arrow()["alert_id"]
        self._stored: set[str] = {i for i in ids.to_pylist() if i is not None}
        self._pending: list[dict[str, Any]] = []
        self._pending_ids: set[str] = set()
        self.written = 0  # alerts committed by this store
        self.skipped = 0  # alerts not stored again: their id was already stored or waiting
        self.commits = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def __contains__(self, alert: Alert) -> bool:
        ident = alert_id(alert)
        return ident in self._stored or ident in self._pending_ids

    def add(self, alert: Alert) -> None:
        row = alert_row(alert, datetime.now(UTC))
        ident = row["alert_id"]
        if ident in self._stored or ident in self._pending_ids:
            self.skipped += 1
            return
        self._pending.append(row)
        self._pending_ids.add(ident)
        if len(self._pending) >= self.flush_every:
            self.flush()

    def send(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self.add(alert)

    def flush(self) -> int:
        """Commit the waiting alerts (one snapshot); returns how many were written."""
        if not self._pending:
            return 0
        rows = pa.Table.from_pylist(self._pending, schema=ALERTS_SCHEMA)
        append_rows(self.table, rows, {"c360.stream_alerts": str(len(self._pending))})
        n = len(self._pending)
        self._stored |= self._pending_ids
        self._pending, self._pending_ids = [], set()
        self.written += n
        self.commits += 1
        return n

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> AlertStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
