"""``GET /v1/alerts``: the stream's alerts from the serving store, newest first, with filters."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from c360.serve.alert_store import MAX_LIMIT, AlertQuery, ensure_alert_table, query_alerts
from c360.serve.deps import Caller
from c360.serve.store import connect_store

router = APIRouter(tags=["stream"])
_local = threading.local()


def _connection(path: Path) -> Any:
    """One read-only connection per worker thread and store file (the table is created once)."""
    cons: dict[Path, Any] = _local.__dict__.setdefault("cons", {})
    if path not in cons:
        ensure_alert_table(path)
        cons[path] = connect_store(path, readonly=True)
    return cons[path]


def mask_ip(address: str) -> str:
    """An IP address without its host part (``203.0.113.*``, ``2001:db8:1:*``): a role that may not
    see personal data still sees which network an attack comes from."""
    if "." in address:
        return address.rsplit(".", 1)[0] + ".*"
    return ":".join(address.split(":")[:3]) + ":*"


@router.get("/v1/alerts")
def list_alerts(
    request: Request,
    principal: Caller,
    since: Annotated[
        datetime | None, Query(description="Alerts detected at or after this time (ISO 8601; UTC if naive).")
    ] = None,
    detector: Annotated[str | None, Query(description="One detector, e.g. ip_flood.")] = None,
    key: Annotated[str | None, Query(description="A key value: IP, user id, session, product.")] = None,
    key_type: Annotated[str | None, Query(description="user_id, user_session, ip, product_id.")] = None,
    severity: Annotated[Literal["low", "medium", "high"] | None, Query(description="At least this.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    """Stream alerts, the most recently detected first (detection time is event time).

    Roles without ``pii`` see IP keys without their host part.
    """
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    query = AlertQuery(since, detector, key, key_type, severity, limit)
    rows = query_alerts(_connection(request.app.state.store_path), query)
    if not principal.role.pii:
        for row in rows:
            if row["key_type"] == "ip":
                row["key_value"] = mask_ip(row["key_value"])
    request.state.rows = len(rows)
    return {"count": len(rows), "limit": limit, "alerts": rows}
