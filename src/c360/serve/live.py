"""Live per-customer counters from the clickstream, and ``GET /v1/customers/{id}/live``.

``c360 stream run`` calls ``LiveCounters.on_events(table)`` once per micro-batch. Each event's
``user_id`` is mapped to its customer(s) through the published identifier map (kind ``user_id``);
events of users the map does not know are counted as unmapped and leave no counter. Per customer:

* ``last_seen`` — the latest event time;
* ``events_today`` — events on the day of the stream clock (the latest event time the counters
  have seen), so a replay of last month answers as of its own last day, and live traffic as of now;
* the current session — the session of the latest event, when it started, its events, and
  whether it is still active (an event within ``SESSION_IDLE_S`` of the stream clock);
* ``cart_value`` — what is in the cart: ``cart`` adds one unit of the product at its price,
  ``remove_from_cart`` and ``purchase`` take one unit out (never below zero).

Events are applied in event time order within a batch; an event older than the customer's last
one still counts for its day and session and moves the cart, but does not change the current
session. Counters live in ``live_counters`` of the serving store (their own rows, one write
transaction per batch; readers are never blocked, WAL).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, HTTPException, Request

from c360.serve.deps import Caller
from c360.serve.store import ProfileStore, StoreError, connect_store
from c360.stream.events import TIME_FORMAT, US_PER_SECOND

SESSION_IDLE_S = 30 * 60
US_PER_DAY = 86_400 * US_PER_SECOND
_SCHEMA = """
    CREATE TABLE IF NOT EXISTS live_counters (
        customer_id INTEGER PRIMARY KEY, last_seen_us INTEGER NOT NULL, day INTEGER NOT NULL,
        events_today INTEGER NOT NULL, events_total INTEGER NOT NULL, session_id TEXT NOT NULL,
        session_started_us INTEGER NOT NULL, session_events INTEGER NOT NULL, cart TEXT NOT NULL,
        cart_value REAL NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS live_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_FIELDS = (
    "last_seen_us", "day", "events_today", "events_total", "session_id", "session_started_us",
    "session_events", "cart", "cart_value",
)  # fmt: skip


def ensure_live_tables(path: Path) -> None:
    con = connect_store(path)
    try:
        con.executescript(f"BEGIN; {_SCHEMA} COMMIT;")
    finally:
        con.close()


@dataclass
class _State:
    """One customer's counters while a batch is applied (``cart``: product → [units, unit price])."""

    last_seen_us: int = -1
    day: int = -1
    events_today: int = 0
    events_total: int = 0
    session_id: str = ""
    session_started_us: int = 0
    session_events: int = 0
    cart: dict[str, list[float]] = field(default_factory=dict)

    def apply(self, time_us: int, kind: str, product: str, price: float | None, session: str) -> None:
        day = time_us // US_PER_DAY
        self.events_total += 1
        if time_us >= self.last_seen_us:
            if day != self.day:
                self.day, self.events_today = day, 0
            if session != self.session_id:
                self.session_id, self.session_started_us, self.session_events = session, time_us, 0
            self.last_seen_us = time_us
        if day == self.day:
            self.events_today += 1
        if session == self.session_id:
            self.session_events += 1
            self.session_started_us = min(self.session_started_us, time_us)
        units = self.cart.get(product)
        if kind == "cart":
            if units is None:
                self.cart[product] = [1, price or 0.0]
            else:
                units[0] += 1
                units[1] = price if price is not None else units[1]
        elif kind in ("remove_from_cart", "purchase") and units is not None:
            units[0] -= 1
            if units[0] <= 0:
                del self.cart[product]

    @property
    def cart_value(self) -> float:
        return round(sum(units * price for units, price in self.cart.values()), 2)


@dataclass
class LiveUpdate:
    events: int = 0  # events given
    applied: int = 0  # event × customer applications (a user may map to several customers)
    unmapped: int = 0  # events whose user_id the identifier map does not know
    unreadable: int = 0  # events without a parseable time or a user_id
    customers: int = 0  # customers whose counters changed


class LiveCounters:
    """Keeps ``live_counters`` up to date from micro-batches of clickstream events."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        ensure_live_tables(self.path)
        self._con = connect_store(self.path)
        self._store = ProfileStore(self.path)
        self._version: int | None = None
        self._customers: dict[str, tuple[int, ...]] = {}
        self.totals = LiveUpdate()

    def _map_version(self) -> int | None:
        try:
            row = self._con.execute("SELECT value FROM serving_meta WHERE key = 'current_version'").fetchone()
        except sqlite3.OperationalError:  # nothing published yet: every user is unmapped
            return None
        return int(row[0]) if row else None

    def customers_of(self, user_ids: list[str]) -> dict[str, tuple[int, ...]]:
        """user_id → customer ids, through the current published map (cached per version)."""
        version = self._map_version()
        if version != self._version:
            self._version, self._customers = version, {}
        unknown = [u for u in set(user_ids) if u not in self._customers]
        if version is not None and unknown:
            self._customers.update(self._store.customer_ids("user_id", unknown))
        return {u: self._customers.get(u, ()) for u in user_ids}

    def on_events(self, table: pa.Table) -> LiveUpdate:
        """Apply one micro-batch (the clickstream columns as text) to the counters."""
        update = LiveUpdate(events=table.num_rows)
        if table.num_rows == 0:
            return update
        times = pc.strptime(table["event_time"], format=TIME_FORMAT, unit="us", error_is_null=True)
        time_us = times.cast(pa.int64()).to_numpy(zero_copy_only=False)
        users = [(u or "").strip() for u in table["user_id"].to_pylist()]
        readable = ~pc.is_null(times).to_numpy(zero_copy_only=False) & np.array([bool(u) for u in users])
        update.unreadable = int((~readable).sum())
        order = np.flatnonzero(readable)
        order = order[np.argsort(time_us[order], kind="stable")]
        kinds = table["event_type"].to_pylist()
        products = table["product_id"].to_pylist()
        prices = table["price"].to_pylist()
        sessions = table["user_session"].to_pylist()
        con = self._con
        con.execute("BEGIN IMMEDIATE")  # a publish cannot drop the map version while it is read
        try:
            owners = self.customers_of([users[i] for i in order.tolist()])
            states: dict[int, _State] = {}
            for i in order.tolist():
                customers = owners[users[i]]
                if not customers:
                    update.unmapped += 1
                    continue
                price = _price(prices[i])
                for customer in customers:
                    state = states.get(customer)
                    if state is None:
                        state = states[customer] = self._load(customer)
                    state.apply(int(time_us[i]), kinds[i], products[i] or "", price, sessions[i] or "")
                    update.applied += 1
            now = datetime.now(UTC).isoformat(timespec="milliseconds")
            con.executemany(
                "INSERT OR REPLACE INTO live_counters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        customer, s.last_seen_us, s.day, s.events_today, s.events_total, s.session_id,
                        s.session_started_us, s.session_events, json.dumps(s.cart), s.cart_value, now,
                    )
                    for customer, s in states.items()
                ],
            )  # fmt: skip
            if order.size:
                con.execute(
                    "INSERT INTO live_meta VALUES ('stream_clock_us', ?) ON CONFLICT (key) "
                    "DO UPDATE SET value = max(value, excluded.value)",
                    (int(time_us[order[-1]]),),
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        update.customers = len(states)
        for name in ("events", "applied", "unmapped", "unreadable", "customers"):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(update, name))
        return update

    def _load(self, customer: int) -> _State:
        row = self._con.execute(
            f"SELECT {', '.join(_FIELDS)} FROM live_counters WHERE customer_id = ?", (customer,)
        ).fetchone()
        if row is None:
            return _State()
        values = dict(zip(_FIELDS, row, strict=True))
        values.pop("cart_value")
        values["cart"] = json.loads(values["cart"])
        return _State(**values)

    def close(self) -> None:
        self._con.close()
        self._store.close()


def _price(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / US_PER_SECOND, UTC).isoformat()


def read_live(con: sqlite3.Connection, customer_id: int) -> dict[str, Any] | None:
    """The customer's counters as the API shows them, or None when the stream never saw them."""
    row = con.execute(
        f"SELECT {', '.join(_FIELDS)}, updated_at FROM live_counters WHERE customer_id = ?", (customer_id,)
    ).fetchone()
    if row is None:
        return None
    s = dict(zip((*_FIELDS, "updated_at"), row, strict=True))
    clock_row = con.execute("SELECT value FROM live_meta WHERE key = 'stream_clock_us'").fetchone()
    clock = int(clock_row[0]) if clock_row else s["last_seen_us"]
    today = clock // US_PER_DAY
    cart = json.loads(s["cart"])
    return {
        "customer_id": customer_id,
        "last_seen": _iso(s["last_seen_us"]),
        "today": _iso(today * US_PER_DAY)[:10],
        "events_today": s["events_today"] if s["day"] == today else 0,
        "events_total": s["events_total"],
        "current_session": {
            "id": s["session_id"] or None,
            "started": _iso(s["session_started_us"]),
            "events": s["session_events"],
            "active": clock - s["last_seen_us"] <= SESSION_IDLE_S * US_PER_SECOND,
        },
        "cart_value": s["cart_value"],
        "cart_items": int(sum(units for units, _ in cart.values())),
        "stream_clock": _iso(clock),
        "updated_at": s["updated_at"],
    }


router = APIRouter(tags=["profiles"])
_local = threading.local()


def _connection(path: Path) -> sqlite3.Connection:
    cons: dict[Path, sqlite3.Connection] = _local.__dict__.setdefault("cons", {})
    if path not in cons:
        ensure_live_tables(path)
        cons[path] = connect_store(path, readonly=True)
    return cons[path]


@router.get("/v1/customers/{customer_id}/live")
def customer_live(customer_id: int, request: Request, principal: Caller) -> dict[str, Any]:
    """The customer's live clickstream counters (last seen, events today, session, cart value)."""
    store = request.app.state.store
    live = read_live(_connection(request.app.state.store_path), customer_id)
    if live is None:
        try:
            known = store.get_json(customer_id) is not None
        except StoreError:
            known = False
        if not known:
            request.state.rows = 0
            raise HTTPException(404, f"no customer {customer_id}")
        live = {
            "customer_id": customer_id, "last_seen": None, "today": None, "events_today": 0,
            "events_total": 0, "current_session": None, "cart_value": 0.0, "cart_items": 0,
            "stream_clock": None, "updated_at": None,
        }  # fmt: skip
    request.state.rows = 1
    return live
