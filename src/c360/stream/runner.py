"""``c360 stream run``: consume micro-batches from a transport and detect, continuously.

Per delivery: drop events whose id was handled before (delivery is at least once, so redeliveries
and publisher retries happen), validate, run the processor, send its alerts to the sinks, hand the
events to the extra consumers (``on_events``, e.g. live counters), queue them for the raw sink, and
acknowledge. With a raw sink, deliveries are acknowledged only once the landing holding their
events has committed (see :mod:`c360.stream.raw_sink`): a killed runner then loses nothing, and
what it had landed is not landed or counted again after the restart.

A transport that fails (broker down) is retried with exponential backoff, reported once per
outage, and never ends the run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.stream.events import Rejects, hash_text, validate
from c360.stream.processor import Alert, StreamProcessor
from c360.stream.raw_sink import RawSink
from c360.stream.settings import StreamSettings
from c360.stream.sinks import FanOut, Sink
from c360.stream.transports.base import EVENT_ID, PUBLISHED_US, Delivery, Transport, TransportUnavailable

log = logging.getLogger("c360.stream.runner")
EventConsumer = Callable[[pa.Table], None]


class SeenIds:
    """Event ids handled recently, as 64-bit hashes in two generations of ``capacity`` each: memory
    stays bounded, and an id is remembered for at least ``capacity`` later events."""

    def __init__(self, capacity: int = 2_000_000) -> None:
        self.capacity = capacity
        self._new: set[int] = set()
        self._old: set[int] = set()

    def __len__(self) -> int:
        return len(self._new) + len(self._old)

    def remember(self, ids: pa.Array | pa.ChunkedArray) -> None:
        self._add(hash_text(ids).tolist())

    def fresh(self, ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Which ids are new (the first of repeats within ``ids`` counts as new); remembers them."""
        hashes = hash_text(ids)
        keep = np.zeros(hashes.size, dtype=bool)
        keep[np.unique(hashes, return_index=True)[1]] = True
        new, old = self._new, self._old
        keep &= np.fromiter((h not in new and h not in old for h in hashes.tolist()), bool, hashes.size)
        self._add(hashes[keep].tolist())
        return keep

    def _add(self, hashes: list[int]) -> None:
        self._new.update(hashes)
        if len(self._new) >= self.capacity:
            self._old, self._new = self._new, set()


@dataclass
class RunStats:
    delivered: int = 0  # events the transport handed over, redeliveries included
    redelivered: int = 0  # of those, events the transport said it had delivered before
    duplicates: int = 0  # skipped: their event id had been handled
    processed: int = 0  # events handled once each
    rejected: int = 0  # of those, invalid (counted per reason in ``rejects``)
    alerts: int = 0
    acked_deliveries: int = 0
    transport_errors: int = 0
    consumer_errors: int = 0  # ``on_events`` calls that raised (logged, then ignored)
    # event-to-alert, one per alert (the latest ones: a long run must not grow without bound)
    latencies_s: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    rejects: Rejects = field(default_factory=lambda: Rejects(keep_rows=False))
    started: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def latency_percentile(self, q: float) -> float | None:
        return float(np.percentile(self.latencies_s, q)) if self.latencies_s else None


class StreamRunner:
    def __init__(
        self,
        transport: Transport,
        settings: StreamSettings | None = None,
        sinks: Sequence[Sink] = (),
        raw_sink: RawSink | None = None,
        on_events: Sequence[EventConsumer] = (),
        on_alert: Callable[[Alert], None] | None = None,
    ) -> None:
        self.transport = transport
        self.settings = settings or StreamSettings()
        self.processor = StreamProcessor(self.settings)
        self.fan = FanOut(sinks)
        self.raw_sink = raw_sink
        self.on_events = list(on_events)
        self.on_alert = on_alert
        self.stats = RunStats()
        self.seen = SeenIds()
        if raw_sink is not None:
            self.seen.remember(raw_sink.already_landed())
        self._unacked: list[Delivery] = []
        self._backoff = self.settings.transport.backoff_initial_s
        self._down_since: float | None = None

    def step(self, timeout_s: float = 0.5) -> int:
        """Consume and handle one delivery (waiting at most ``timeout_s``); returns its event count."""
        try:
            delivery = self.transport.consume(self.settings.transport.batch_events, timeout_s)
        except TransportUnavailable as exc:
            self._transport_failed(exc)
            return 0
        self._transport_back()
        if delivery.size:
            self._handle(delivery)
            # Only now: a delivery whose handling raised is never acknowledged, so it comes again.
            self._unacked.append(delivery)
        self._settle()
        return delivery.size

    def _handle(self, delivery: Delivery) -> None:
        table = delivery.table
        self.stats.delivered += table.num_rows
        self.stats.redelivered += delivery.redelivered
        keep = self.seen.fresh(table[EVENT_ID])
        fresh = table if keep.all() else table.filter(pa.array(keep))
        self.stats.duplicates += table.num_rows - fresh.num_rows
        if fresh.num_rows == 0:
            return
        self.stats.processed += fresh.num_rows
        before = self.stats.rejects.total
        valid = validate(fresh, self.stats.rejects)
        self.stats.rejected += self.stats.rejects.total - before
        alerts = self.processor.process(valid)
        if alerts:
            self.fan.send(alerts)
            # The earliest publication in the batch: an upper bound of each alert's latency.
            published = pc.min(valid.table[PUBLISHED_US]).as_py()
            latency = time.time() - published / 1e6
            self.stats.latencies_s.extend([latency] * len(alerts))
            self.stats.alerts += len(alerts)
            if self.on_alert is not None:
                for alert in alerts:
                    self.on_alert(alert)
        for consumer in self.on_events:
            try:
                consumer(valid.table)
            except Exception:
                self.stats.consumer_errors += 1
                log.exception("event consumer %r failed on %d events", consumer, valid.size)
        if self.raw_sink is not None:
            self.raw_sink.add(fresh)

    def _settle(self, force: bool = False) -> None:
        """Land what the raw sink holds when due, then acknowledge whatever is safe to."""
        sink = self.raw_sink
        if sink is not None and (force or sink.due()) and not sink.flush():
            return  # the lake is busy: the held deliveries wait for the next flush
        if sink is not None and sink.pending_events:
            return  # some held deliveries have events not landed yet
        while self._unacked:
            try:
                self.transport.ack(self._unacked[0])
            except TransportUnavailable as exc:
                self._transport_failed(exc)
                return
            self._unacked.pop(0)
            self.stats.acked_deliveries += 1

    def _transport_failed(self, exc: TransportUnavailable) -> None:
        self.stats.transport_errors += 1
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.error("stream run: transport failed (%s); retrying with backoff", str(exc).splitlines()[0])
        time.sleep(self._backoff)
        self._backoff = min(self._backoff * 2, self.settings.transport.backoff_max_s)

    def _transport_back(self) -> None:
        if self._down_since is not None:
            log.warning("stream run: transport back after %.1f s", time.monotonic() - self._down_since)
            self._down_since = None
        self._backoff = self.settings.transport.backoff_initial_s

    def run(
        self,
        stop: threading.Event | None = None,
        idle_exit_s: float | None = None,
        on_tick: Callable[[RunStats], None] | None = None,
    ) -> RunStats:
        """Consume until ``stop`` is set, or nothing arrives for ``idle_exit_s`` seconds; then land
        and acknowledge what is held, and close the sinks. ``on_tick`` sees the stats each second."""
        idle_since = time.monotonic()
        ticked = 0.0
        try:
            while stop is None or not stop.is_set():
                if self.step(timeout_s=0.2):
                    idle_since = time.monotonic()
                elif idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
                    break
                if on_tick is not None and time.monotonic() - ticked >= 1.0:
                    ticked = time.monotonic()
                    on_tick(self.stats)
        finally:
            self.close()
        return self.stats

    def close(self) -> None:
        """Land and acknowledge what is held, close the alert sinks; the transport stays open."""
        try:
            self._settle(force=True)
        finally:
            self.fan.close()


def start_in_thread(runner: StreamRunner) -> tuple[threading.Thread, threading.Event]:
    """Run ``runner`` beside a server: the in-process transport needs the collector and the runner
    in one process. Set the returned event to stop it (it lands and acknowledges what it holds),
    then join the thread."""
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), name="c360-stream-run", daemon=True)
    thread.start()
    return thread, stop
