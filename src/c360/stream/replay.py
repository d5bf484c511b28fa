"""Replay recorded clickstream files through the processor, as fast as possible or paced."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from c360.errors import C360Error
from c360.stream.events import US_PER_SECOND, Rejects, Validated, read_batches, read_events
from c360.stream.processor import Alert, Counts, StreamProcessor
from c360.stream.settings import StreamSettings
from c360.stream.sinks import Sink, fan_out
from c360.stream.transports.base import Transport, TransportFull


@dataclass
class ReplayResult:
    alerts: list[Alert]
    counts: Counts
    rejects: Rejects
    seconds: float
    files: list[Path] = field(default_factory=list)

    @property
    def events_per_second(self) -> float:
        return self.counts.events / self.seconds if self.seconds else float("inf")


def clickstream_files(path: Path) -> list[Path]:
    """A CSV file, or a directory's ``events_*.csv`` (or ``*.csv``) in name order (= day order)."""
    if path.is_file():
        return [path]
    files = sorted(path.glob("events_*.csv")) or sorted(path.glob("*.csv"))
    if not files:
        raise C360Error(f"no clickstream CSV files in {path}", hint="give a CSV file or a directory of *.csv")
    return files


def micro_batches(batches: Iterator[Validated], max_events: int) -> Iterator[Validated]:
    """Split read blocks into micro-batches of at most ``max_events`` events."""
    for batch in batches:
        for lo in range(0, batch.size, max_events):
            hi = min(lo + max_events, batch.size)
            if lo == 0 and hi == batch.size:
                yield batch
            else:
                yield Validated(batch.table.slice(lo, hi - lo), batch.time_us[lo:hi], batch.kind[lo:hi])


def replay(
    path: Path,
    speed: float = 0.0,
    settings: StreamSettings | None = None,
    batch_events: int = 65_536,
    on_alert: Callable[[Alert], None] | None = None,
    sinks: Sequence[Sink] | None = None,
) -> ReplayResult:
    """Feed ``path`` through a processor. ``speed`` 0 runs as fast as possible; ``speed`` X > 0 paces
    the stream at X seconds of event time per wall-clock second (micro-batches then hold at most
    one second of event time). ``sinks`` get each micro-batch's alerts in one ``send`` and are
    closed when the replay ends, even by an error."""
    files = clickstream_files(path)
    processor = StreamProcessor(settings or StreamSettings())
    rejects = Rejects(keep_rows=False)
    alerts: list[Alert] = []
    started = time.perf_counter()
    batches = micro_batches(read_events(files, rejects=rejects), batch_events)
    if speed > 0:
        batches = _paced(batches, speed)
    fan = fan_out(sinks) if sinks is not None else None
    try:
        for batch in batches:
            raised = processor.process(batch)
            alerts.extend(raised)
            if on_alert is not None:
                for alert in raised:
                    on_alert(alert)
            if fan is not None:
                fan.send(raised)
    finally:
        if fan is not None:
            fan.close()
    return ReplayResult(alerts, processor.counts, rejects, time.perf_counter() - started, files)


def _paced(batches: Iterator[Validated], speed: float) -> Iterator[Validated]:
    """Cut batches at event-time second boundaries and sleep so event time advances at ``speed``×."""
    origin_event: int | None = None
    origin_wall = time.perf_counter()
    high = None
    for batch in batches:
        if batch.size == 0:
            continue
        running = np.maximum.accumulate(batch.time_us)
        if high is not None:
            running = np.maximum(running, high)
        second = running // US_PER_SECOND
        cuts = np.flatnonzero(np.diff(second)) + 1
        for lo, hi in zip(np.r_[0, cuts].tolist(), np.r_[cuts, batch.size].tolist(), strict=True):
            if origin_event is None:
                origin_event = int(running[lo])
            due = origin_wall + (int(running[lo]) - origin_event) / US_PER_SECOND / speed
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            yield Validated(batch.table.slice(lo, hi - lo), batch.time_us[lo:hi], batch.kind[lo:hi])
        high = int(running[-1])


def publish_files(
    transport: Transport, path: Path, stop: threading.Event | None = None, block_size: int = 1 << 20
) -> int:
    """Publish a recorded clickstream's rows, as text, through ``transport``; returns how many.

    The runner validates, as it does for the collector's events. A full buffer (the consumer is
    behind, or the broker away) is waited out rather than treated as an error.
    """
    sent = 0
    for file in clickstream_files(path):
        for batch in read_batches(file, block_size):
            table = pa.Table.from_batches([batch])
            while True:
                if stop is not None and stop.is_set():
                    return sent
                try:
                    sent += transport.publish(table)
                    break
                except TransportFull:
                    time.sleep(0.05)
    transport.flush()
    return sent
