"""The one interface every transport offers, and the publisher buffer they share.

Events travel as Arrow tables in the wire schema: the clickstream columns as text, plus an
``event_id`` (given by the caller, or assigned at publish) and ``published_us`` (wall-clock
microseconds when the event was published, for event-to-alert latency). A broker message holds
up to ``message_events`` events as one Arrow IPC payload, so a broker round trip is paid per
thousand events rather than per event.

Delivery is at least once: a consumer acknowledges a delivery only when its effects are durable,
and anything unacknowledged is delivered again (after a restart, or after ``ack_wait_s``). The
event id is what lets the consumer make redeliveries harmless.

A publisher never blocks on a broker outage: the messages wait in a buffer bounded by
``buffer_events`` and are retried with exponential backoff; past the bound ``publish`` raises
:class:`TransportFull`, so the caller (the collector) can refuse with 503 instead of losing events
it already acknowledged.
"""

from __future__ import annotations

import logging
import os
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.errors import C360Error
from c360.stream.events import COLUMNS
from c360.stream.settings import TransportSettings

log = logging.getLogger("c360.stream.transport")

EVENT_ID = "event_id"
PUBLISHED_US = "published_us"
WIRE_SCHEMA = pa.schema(
    [
        pa.field(EVENT_ID, pa.string()),
        *(pa.field(name, pa.string()) for name in COLUMNS),
        pa.field(PUBLISHED_US, pa.int64()),
    ]
)


class TransportUnavailable(C360Error):
    """The broker could not be reached or refused the operation; worth retrying later."""


class TransportFull(C360Error):
    """The publisher's buffer is at its bound: the broker has been away too long."""


@dataclass
class Delivery:
    """Events handed to a consumer, and what the transport needs to acknowledge them."""

    table: pa.Table  # WIRE_SCHEMA
    token: Any = None
    redelivered: int = 0  # events in it the transport knows it delivered before

    @property
    def size(self) -> int:
        return self.table.num_rows


@dataclass
class PublisherStats:
    published: int = 0  # events the broker accepted
    buffered: int = 0  # events waiting for the broker now
    failures: int = 0  # send attempts that failed
    rejected: int = 0  # events refused because the buffer was full
    last_error: str = ""
    down_since: float | None = None  # monotonic time of the first failure of the current outage


def empty_table() -> pa.Table:
    return WIRE_SCHEMA.empty_table()


class _Ids:
    """Event ids unique across processes without coordination: a random prefix and a counter."""

    def __init__(self) -> None:
        self.prefix = os.urandom(6).hex()
        self.next = 0

    def take(self, n: int) -> pa.Array:
        numbers = pa.array(np.arange(self.next, self.next + n, dtype=np.int64)).cast(pa.string())
        self.next += n
        return pc.binary_join_element_wise(pa.scalar(self.prefix), numbers, "-")


def to_wire(events: Sequence[dict[str, Any]] | pa.Table, ids: _Ids) -> pa.Table:
    """Events as a WIRE_SCHEMA table: missing columns become "", missing ids and times are assigned."""
    table = events if isinstance(events, pa.Table) else _from_dicts(events)
    n = table.num_rows
    now_us = time.time_ns() // 1_000
    columns = []
    for wire in WIRE_SCHEMA:
        if wire.name in table.column_names:
            column = table[wire.name]
            if column.type != wire.type:
                column = column.cast(wire.type)
            if wire.name == EVENT_ID:
                blank = pc.or_kleene(pc.is_null(column), pc.equal(column, ""))
                if pc.any(blank).as_py():
                    column = pc.if_else(blank, ids.take(n), column)
            elif wire.name == PUBLISHED_US:
                column = pc.fill_null(column, now_us)
            else:
                column = pc.fill_null(column, "")
        elif wire.name == EVENT_ID:
            column = ids.take(n)
        elif wire.name == PUBLISHED_US:
            column = pa.repeat(pa.scalar(now_us, pa.int64()), n)
        else:
            column = pa.repeat(pa.scalar("", pa.string()), n)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=WIRE_SCHEMA)


def _from_dicts(events: Sequence[dict[str, Any]]) -> pa.Table:
    # Not pa.Table.from_pylist: it takes the columns of the first event only.
    present = {key for event in events for key in event}
    columns = {
        name: pa.array([event.get(name) for event in events]) for name in WIRE_SCHEMA.names if name in present
    }
    return pa.table(columns) if columns else pa.table({EVENT_ID: pa.nulls(len(events), pa.string())})


def encode(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, WIRE_SCHEMA) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode(payloads: Sequence[bytes]) -> pa.Table:
    tables = [pa.ipc.open_stream(payload).read_all() for payload in payloads]
    return pa.concat_tables(tables) if tables else empty_table()


class Transport(ABC):
    """Publish events, consume them in micro-batches, acknowledge what was handled.

    Subclasses implement ``_send`` (one message), ``consume``, ``ack`` and ``close``; the buffer,
    backoff and outage reporting of the publishing side live here, once. One thread at a time may
    publish through a transport (the collector serializes its requests), and one may consume.
    """

    kind = "abstract"

    def __init__(self, settings: TransportSettings) -> None:
        self.settings = settings
        self.stats = PublisherStats()
        self._ids = _Ids()
        self._outbox: deque[pa.Table] = deque()
        self._backoff = settings.backoff_initial_s
        self._retry_at = 0.0

    # publishing ---------------------------------------------------------------------------------

    def publish(self, events: Sequence[dict[str, Any]] | pa.Table) -> int:
        """Hand events to the broker (or to the buffer while it is away); returns how many were
        accepted. Raises :class:`TransportFull` when the buffer cannot hold them: nothing of this
        call is then kept."""
        table = to_wire(events, self._ids)
        if table.num_rows == 0:
            return 0
        self._drain()
        if self.stats.buffered + table.num_rows > self.settings.buffer_events:
            self.stats.rejected += table.num_rows
            raise TransportFull(
                f"{self.kind} transport: {self.stats.buffered} events wait for the broker at "
                f"{self.describe()} (bound {self.settings.buffer_events}); "
                f"last error: {self.stats.last_error}",
                hint="start the broker or raise [stream.transport] buffer_events; the caller should retry",
            )
        step = self.settings.message_events
        for lo in range(0, table.num_rows, step):
            self._outbox.append(table.slice(lo, step))
        self.stats.buffered += table.num_rows
        self._drain()
        return table.num_rows

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait (backing off) until the buffer is empty or ``timeout_s`` passes; True when empty."""
        deadline = time.monotonic() + timeout_s
        while self._outbox:
            self._drain()
            if not self._outbox:
                break
            wait = min(self._retry_at, deadline) - time.monotonic()
            if time.monotonic() >= deadline:
                return False
            time.sleep(max(wait, 0.001))
        return True

    def _drain(self) -> None:
        if not self._outbox or time.monotonic() < self._retry_at:
            return
        while self._outbox:
            message = self._outbox[0]
            try:
                self._send(message)
            except TransportUnavailable as exc:
                self._failed(exc)
                return
            self._outbox.popleft()
            self.stats.buffered -= message.num_rows
            self.stats.published += message.num_rows
        if self.stats.down_since is not None:
            log.warning(
                "%s transport: broker at %s is back after %.1f s; buffered events delivered",
                self.kind, self.describe(), time.monotonic() - self.stats.down_since,
            )  # fmt: skip
            self.stats.down_since = None
        self._backoff = self.settings.backoff_initial_s

    def _failed(self, exc: TransportUnavailable) -> None:
        now = time.monotonic()
        self.stats.failures += 1
        self.stats.last_error = str(exc).splitlines()[0]
        if self.stats.down_since is None:
            self.stats.down_since = now
            log.error(
                "%s transport: broker at %s unreachable (%s); buffering up to %d events",
                self.kind, self.describe(), self.stats.last_error, self.settings.buffer_events,
            )  # fmt: skip
        self._retry_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self.settings.backoff_max_s)

    @abstractmethod
    def _send(self, message: pa.Table) -> None:
        """Deliver one message to the broker, or raise TransportUnavailable."""

    # consuming ----------------------------------------------------------------------------------

    @abstractmethod
    def consume(self, max_events: int, timeout_s: float) -> Delivery:
        """Up to about ``max_events`` events (whole messages; at least one message when any is
        waiting), waiting at most ``timeout_s`` for the first; an empty delivery when none came.
        Unacknowledged deliveries of an earlier run come first."""

    @abstractmethod
    def ack(self, delivery: Delivery) -> None:
        """The delivery's events are handled: never deliver them again."""

    def describe(self) -> str:
        return self.settings.url or self.kind

    def close(self) -> None:
        """Try once more to deliver the buffer, then release the connection."""
        if self._outbox:
            self.flush(timeout_s=1.0)
        if self._outbox:
            log.error(
                "%s transport closed with %d events undelivered to %s",
                self.kind, self.stats.buffered, self.describe(),
            )  # fmt: skip

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
