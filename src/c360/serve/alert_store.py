"""Stream alerts in the serving store (``stream_alerts`` in ``serving.db``), for ``GET /v1/alerts``.

The lake table ``analytics.stream_alerts`` is the history; this table is what the API reads, a
few milliseconds away. ``ServingAlertSink`` follows the stream's ``Sink`` protocol, so ``c360
stream run`` hands it each micro-batch's alerts like any other sink.

Deduplication, twice: an alert whose ``alert_id`` is already stored is skipped (a replay or a
redelivered batch stores nothing new), and an alert for a (detector, key) that already has a
stored alert of the same or higher severity less than ``cooldown_s`` earlier (in event time) is
skipped too. The processor keeps the same cooldown in memory; the store keeps it across restarts
of the runner, which otherwise start with an empty memory and would alert again at once.

Times are ISO 8601 text in UTC with microseconds, one fixed width, so text order is time order.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from c360.serve.store import connect_store
from c360.stream.alerts import alert_id
from c360.stream.processor import SEVERITY_RANK, Alert

TABLE = "stream_alerts"
_COLUMNS = (
    "alert_id", "detector", "key_type", "key_value", "severity", "count", "window_start", "window_end",
    "first_event_time", "detected_at_event_time", "recorded_at",
)  # fmt: skip
_SCHEMA = f"""
    CREATE TABLE IF NOT EXISTS {TABLE} (
        alert_id TEXT PRIMARY KEY, detector TEXT NOT NULL, key_type TEXT NOT NULL,
        key_value TEXT NOT NULL, severity TEXT NOT NULL, severity_rank INTEGER NOT NULL,
        count INTEGER NOT NULL, window_start TEXT NOT NULL, window_end TEXT NOT NULL,
        first_event_time TEXT NOT NULL, detected_at_event_time TEXT NOT NULL, recorded_at TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS {TABLE}_detected ON {TABLE} (detected_at_event_time);
    CREATE INDEX IF NOT EXISTS {TABLE}_key ON {TABLE} (key_value, detected_at_event_time);
    CREATE INDEX IF NOT EXISTS {TABLE}_rule
        ON {TABLE} (detector, key_type, key_value, detected_at_event_time);
"""
MAX_LIMIT = 1_000


def iso(moment: datetime) -> str:
    """Fixed-width UTC text (``2024-05-16T19:15:00.000000+00:00``)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def ensure_alert_table(path: Path) -> None:
    con = connect_store(path)
    try:
        con.executescript(f"BEGIN; {_SCHEMA} COMMIT;")
    finally:
        con.close()


@dataclass
class AlertQuery:
    """Filters of ``GET /v1/alerts``: every given one must hold."""

    since: datetime | None = None  # detected at or after this event time
    detector: str | None = None
    key: str | None = None  # the key value (an IP, a user id, a session, a product id)
    key_type: str | None = None
    severity: str | None = None  # this severity or higher
    limit: int = 100


def query_alerts(con: sqlite3.Connection, query: AlertQuery) -> list[dict[str, Any]]:
    """Matching alerts, the most recently detected first."""
    where, params = [], []
    if query.since is not None:
        where.append("detected_at_event_time >= ?")
        params.append(iso(query.since))
    equal = (("detector", query.detector), ("key_value", query.key), ("key_type", query.key_type))
    for column, value in equal:
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if query.severity is not None:
        where.append("severity_rank >= ?")
        params.append(SEVERITY_RANK[query.severity])
    sql = f"SELECT {', '.join(_COLUMNS)} FROM {TABLE}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY detected_at_event_time DESC, alert_id LIMIT ?"
    rows = con.execute(sql, [*params, min(max(query.limit, 1), MAX_LIMIT)]).fetchall()
    return [dict(zip(_COLUMNS, row, strict=True)) for row in rows]


class ServingAlertSink:
    """Writes alerts to the serving store, one transaction per ``send`` (a stream ``Sink``)."""

    def __init__(self, path: Path, cooldown_s: float = 600.0) -> None:
        self.path = Path(path)
        self.cooldown_us = round(cooldown_s * 1_000_000)
        ensure_alert_table(self.path)
        self._con = connect_store(self.path)
        self.written = 0
        self.skipped = 0  # already stored, or within the cooldown of a stored alert

    def send(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        now = iso(datetime.now(UTC))
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            for alert in alerts:
                if self._covered(con, alert):
                    self.skipped += 1
                    continue
                con.execute(
                    f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        alert_id(alert), alert.detector, alert.key_type, alert.key_value, alert.severity,
                        SEVERITY_RANK[alert.severity], alert.count, iso(alert.window_start),
                        iso(alert.window_end), iso(alert.first_event_time),
                        iso(alert.detected_at_event_time), now,
                    ),
                )  # fmt: skip
                self.written += 1
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _covered(self, con: sqlite3.Connection, alert: Alert) -> bool:
        """Stored already, or a stored alert as severe on the same rule and key is in its cooldown."""
        if con.execute(f"SELECT 1 FROM {TABLE} WHERE alert_id = ?", (alert_id(alert),)).fetchone():
            return True
        detected = alert.detected_at_event_time.astimezone(UTC)
        earliest = datetime.fromtimestamp(detected.timestamp() - self.cooldown_us / 1e6, UTC)
        row = con.execute(
            f"SELECT 1 FROM {TABLE} WHERE detector = ? AND key_type = ? AND key_value = ? "
            "AND detected_at_event_time > ? AND detected_at_event_time <= ? AND severity_rank >= ? LIMIT 1",
            (
                alert.detector, alert.key_type, alert.key_value, iso(earliest), iso(detected),
                SEVERITY_RANK[alert.severity],
            ),
        ).fetchone()  # fmt: skip
        return row is not None

    def close(self) -> None:
        self._con.close()
