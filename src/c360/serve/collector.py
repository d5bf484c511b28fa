"""The event collector: ``POST /v1/events`` checks clickstream events and publishes the good ones.

The body is a JSON array of event objects or NDJSON (one object per line; chosen by the
``Content-Type``, ``application/x-ndjson``, or by a body not starting with ``[``). Each event is
checked against the clickstream contract (the REES46 columns plus ``ip`` and ``user_agent``, text
or numbers): a bad event is rejected with its index, the field and the reason, and counted; the
others of the same request are still accepted. Accepted events go to the stream transport
configured in [stream.transport] (``c360 stream run`` consumes them). When the transport cannot
take them (its buffer is full: the broker has been away too long) the whole request is refused
with 503 and nothing of it is published, so the client may send it again as it is.

Only roles that see PII may send events: the events carry user ids and IP addresses.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from c360.serve.deps import Caller
from c360.stream.events import COLUMNS, REASONS, Rejects, validate
from c360.stream.transports import EVENT_ID, Transport, TransportFull, open_transport

MAX_EVENTS = 10_000  # per request
MAX_BYTES = 32 * 1024 * 1024
MAX_REJECTS_LISTED = 1_000  # the counts always cover every reject; the list stops here
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines", "application/ndjson")
REASON_FIELD = dict(zip(REASONS, ["event_time", "event_type", "price", "price", "user_id"], strict=True))
_INDEX = "__index"
_OPEN_LOCK = threading.Lock()
_PUBLISH_LOCK = threading.Lock()

router = APIRouter(tags=["stream"])


@dataclass
class CollectorStats:
    """Running totals since the server started (``GET /v1/events/stats``)."""

    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    refused_requests: int = 0  # 503: the transport could not take the events
    reasons: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "refused_requests": self.refused_requests,
            "reasons": dict(sorted(self.reasons.items())),
        }


@dataclass
class Reject:
    index: int
    field: str | None
    reason: str


@dataclass
class Checked:
    """A request's events: the good ones as a text table, and the rejects in index order."""

    good: pa.Table
    rejects: list[Reject]
    total: int


def parse_body(body: bytes, content_type: str) -> tuple[list[Any], list[Reject]]:
    """The request's items (one per event, in order) and the NDJSON lines that are not JSON.

    A JSON array that does not parse is the client's whole request being wrong: 400. A NDJSON
    line that does not parse is one bad event among good ones: rejected with its index.
    """
    text = body.decode("utf-8", errors="replace")
    ndjson = content_type.split(";")[0].strip().lower() in NDJSON_TYPES or not text.lstrip().startswith("[")
    if not ndjson:
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HTTPException(400, f"the body is not a JSON array: {exc}") from None
        return items, []
    items: list[Any] = []
    bad: list[Reject] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as exc:
            bad.append(Reject(len(items), None, f"invalid JSON: {exc.msg}"))
            items.append(None)
    return items, bad


def _text(value: Any) -> str | None:
    """An event field as contract text (numbers as written), or None when it cannot be one."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return repr(value) if isinstance(value, float) else str(value)


def check_events(items: list[Any], unparsed: list[Reject]) -> Checked:
    """Every item against the contract: the structure here, then the field rules of the stream."""
    rejects = list(unparsed)
    skip = {r.index for r in unparsed}
    names = (EVENT_ID, *COLUMNS)
    ip_at = names.index("ip")
    rows: list[list[str]] = []
    index: list[int] = []
    valid_ip: dict[str, bool] = {}
    for i, item in enumerate(items):
        if i in skip:
            continue
        if not isinstance(item, dict):
            rejects.append(Reject(i, None, "not a JSON object"))
            continue
        values = [item.get(name) for name in names]
        if not all(type(v) is str for v in values):  # the common case, all text, needs no conversion
            values = [_text(v) for v in values]
            if None in values:
                rejects.append(Reject(i, names[values.index(None)], "must be text or a number"))
                continue
        ip = values[ip_at].strip()
        if ip:
            if ip not in valid_ip:
                valid_ip[ip] = _is_ip(ip)
            if not valid_ip[ip]:
                rejects.append(Reject(i, "ip", "not an IP address"))
                continue
        rows.append(values)
        index.append(i)
    columns = {name: pa.array([row[j] for row in rows], pa.string()) for j, name in enumerate(names)}
    table = pa.table({**columns, _INDEX: pa.array(index, pa.int64())})
    found = Rejects()
    valid = validate(table, found)
    for bad in found.rows:
        for i, reason in zip(bad[_INDEX].to_pylist(), bad["reason"].to_pylist(), strict=True):
            rejects.append(Reject(i, REASON_FIELD.get(reason), reason))
    rejects.sort(key=lambda r: r.index)
    return Checked(valid.table.drop_columns([_INDEX]), rejects, len(items))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _transport(request: Request) -> Transport:
    """The app's transport (``app.state.event_transport``), opened on first use from [stream.transport]."""
    state = request.app.state
    with _OPEN_LOCK:
        transport = getattr(state, "event_transport", None)
        if transport is None:
            transport = state.event_transport = open_transport(state.project.settings.stream)
    return transport


def _stats(request: Request) -> CollectorStats:
    with _OPEN_LOCK:
        stats = getattr(request.app.state, "collector_stats", None)
        if stats is None:
            stats = request.app.state.collector_stats = CollectorStats()
    return stats


def _publish(request: Request, table: pa.Table) -> None:
    transport = _transport(request)
    with _PUBLISH_LOCK:  # a transport's publisher buffer is not made for several threads at once
        transport.publish(table)


@router.post("/v1/events", status_code=200)
async def collect_events(request: Request, principal: Caller) -> dict[str, Any]:
    """Check clickstream events (a JSON array or NDJSON) and publish the valid ones to the stream.

    The answer counts accepted and rejected events and lists each reject's index (its position in
    the array, or its NDJSON line among the non-empty lines), field and reason.
    """
    if not principal.role.pii:
        raise HTTPException(
            403, f"role '{principal.role.name}' may not send events: they carry user ids and IP addresses"
        )
    body = await request.body()
    if len(body) > MAX_BYTES:
        raise HTTPException(413, f"the body is larger than {MAX_BYTES} bytes: send smaller batches")
    items, unparsed = parse_body(body, request.headers.get("content-type", ""))
    if not isinstance(items, list):
        raise HTTPException(400, "the body must be a JSON array of events, or NDJSON (one event per line)")
    if len(items) > MAX_EVENTS:
        raise HTTPException(413, f"{len(items)} events in one request; send at most {MAX_EVENTS}")
    checked = await run_in_threadpool(check_events, items, unparsed)
    stats = _stats(request)
    if checked.good.num_rows:
        try:
            await run_in_threadpool(_publish, request, checked.good)
        except TransportFull as exc:
            with stats.lock:
                stats.refused_requests += 1
            raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from None
    reasons: dict[str, int] = {}
    for reject in checked.rejects:
        reasons[reject.reason] = reasons.get(reject.reason, 0) + 1
    with stats.lock:
        stats.requests += 1
        stats.accepted += checked.good.num_rows
        stats.rejected += len(checked.rejects)
        for reason, count in reasons.items():
            stats.reasons[reason] = stats.reasons.get(reason, 0) + count
    request.state.rows = checked.good.num_rows
    request.state.audit_detail = {"accepted": checked.good.num_rows, "rejected": len(checked.rejects)}
    return {
        "received": checked.total,
        "accepted": checked.good.num_rows,
        "rejected": len(checked.rejects),
        "reasons": reasons,
        "rejects": [vars(r) for r in checked.rejects[:MAX_REJECTS_LISTED]],
    }


@router.get("/v1/events/stats")
def collector_stats(request: Request, principal: Caller) -> dict[str, Any]:
    """What the collector received since the server started: accepted, rejected (by reason), refused."""
    return _stats(request).as_dict()
