"""Stream processing: events/s of the in-process processor (every detector), beside the reference rule
alone as a straightforward per-event Python loop over the same events, and detection quality.

The processor is timed on already-parsed micro-batches (``processor``) and from the CSV files
(``replay``: parse, validate and process); the loop gets its events as ready Python tuples, so
the ratio compares the detection work alone.

``stream.run.<transport>`` is ``c360 stream run``'s loop end to end, per transport (in-process,
Redis Streams, NATS JetStream): a publisher thread (the collector's side: text rows in, ids and
publication times assigned) and the runner (consume, deduplicate by event id, validate, every
detector, acknowledge) in one process. ``events_per_s`` publishes as fast as the transport takes
events; ``reference_events_per_s`` does the same with the reference rule alone, the like-for-like
peer of the per-event Python loop (so it shows what the transport itself costs); the latency
figures publish at a fixed rate (``LATENCY_RATE`` events/s, well below saturation) and time each
alert from the earliest publication in its micro-batch (an upper bound).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import Figure, measure, timed

CUSTOMERS = 100_000
SEED = 42
TRANSPORTS = ("memory", "redis", "nats")
LATENCY_RATE = 20_000  # events/s published in the latency runs
BATCH_EVENTS = 8_192  # events per consume: larger batches measured slower (each batch sorts its frame)


def simulate(work: Path, customers: int = CUSTOMERS, seed: int = SEED) -> Path:
    from c360.simulate import generate

    out = work / f"stream-sim-{customers}-{seed}"
    if not (out / "_truth" / "attacks.csv").exists():
        generate(customers, seed, out)
    return out


def processor_only(sim: str, detectors: list[str] | None = None) -> tuple[float, int]:
    from c360.stream.events import read_events
    from c360.stream.processor import StreamProcessor
    from c360.stream.replay import clickstream_files, micro_batches
    from c360.stream.settings import StreamSettings

    batches = list(micro_batches(read_events(clickstream_files(Path(sim) / "clickstream")), 65_536))
    settings = StreamSettings() if detectors is None else StreamSettings(detectors=detectors)
    processor = StreamProcessor(settings)

    def work() -> int:
        for batch in batches:
            processor.process(batch)
        return processor.counts.events

    return timed(work)


def replay_files(sim: str) -> tuple[float, int]:
    from c360.stream.replay import replay

    return timed(lambda: replay(Path(sim) / "clickstream").counts.events)


def python_loop(sim: str) -> tuple[float, int]:
    """The reference rule (more than 5 events per user in a 10-second tumbling window, 30 s of
    allowed lateness, one alert per user and window) one event at a time."""
    from c360.stream.events import read_events
    from c360.stream.replay import clickstream_files

    events: list[tuple[int, str]] = []
    for batch in read_events(clickstream_files(Path(sim) / "clickstream")):
        seconds = (batch.time_us // 1_000_000).tolist()
        events.extend(zip(seconds, batch.table["user_id"].to_pylist(), strict=True))

    def work() -> int:
        counts: dict[tuple[str, int], int] = {}
        alerts = []
        high = -(2**62)
        for second, user in events:
            if second < high - 30:
                continue
            high = max(high, second)
            key = (user, second // 10)
            count = counts.get(key, 0) + 1
            counts[key] = count
            if count == 6:
                alerts.append((user, key[1]))
        return len(events)

    return timed(work)


def _text_rows(sim: str) -> list:
    import pyarrow as pa

    from c360.stream.events import read_batches
    from c360.stream.replay import clickstream_files

    table = pa.Table.from_batches(
        [b for f in clickstream_files(Path(sim) / "clickstream") for b in read_batches(f)]
    )
    return [table.slice(lo, 1_000) for lo in range(0, table.num_rows, 1_000)]


def transport_run(
    sim: str, kind: str, rate: float = 0.0, detectors: list[str] | None = None
) -> tuple[float, dict]:
    """Publish the simulation's clickstream through ``kind`` (``rate`` events/s, 0 = flat out) while
    a runner (``detectors``, default all) consumes it; seconds from the first publication to the
    last event handled."""
    import threading
    import time
    import uuid

    from c360.stream.runner import StreamRunner
    from c360.stream.settings import StreamSettings
    from c360.stream.transports import open_transport
    from c360.stream.transports.base import TransportFull

    chunks = _text_rows(sim)
    total = sum(c.num_rows for c in chunks)
    name = f"bench-{kind}-{uuid.uuid4().hex[:8]}"
    transport = {
        "kind": kind, "stream": name, "subject": name.replace("-", "."), "buffer_events": 200_000,
        "max_messages": 100_000, "batch_events": BATCH_EVENTS,
    }  # fmt: skip
    chosen = {"detectors": detectors} if detectors else {}
    settings = StreamSettings.model_validate({**chosen, "transport": transport})
    publisher, consumer = open_transport(settings), open_transport(settings)

    def publish() -> None:
        started = time.perf_counter()
        sent = 0
        for chunk in chunks:
            if rate:
                wait = started + sent / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            while True:
                try:
                    sent += publisher.publish(chunk)
                    break
                except TransportFull:
                    time.sleep(0.01)
        publisher.flush(60)

    runner = StreamRunner(consumer, settings)
    thread = threading.Thread(target=publish)
    started = time.perf_counter()
    thread.start()
    while runner.stats.processed < total:
        runner.step(1.0)
    seconds = time.perf_counter() - started
    thread.join()
    runner.close()
    publisher.close()
    consumer.close()
    _drop_stream(kind, name)
    stats = runner.stats
    return seconds, {
        "events": stats.processed,
        "alerts": stats.alerts,
        "p50": stats.latency_percentile(50),
        "p99": stats.latency_percentile(99),
    }


def _drop_stream(kind: str, name: str) -> None:
    if kind == "redis":
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/0").delete(name)
    elif kind == "nats":
        import asyncio

        import nats

        async def delete() -> None:
            nc = await nats.connect("nats://127.0.0.1:4222")
            await nc.jetstream().delete_stream(name)
            await nc.close()

        asyncio.run(delete())


def run_transports(sim: Path, repeat: int, size: str, loop_rate: float) -> list[Figure]:
    figures = []
    for kind in TRANSPORTS:
        seconds, peak, info = measure(transport_run, str(sim), kind, repeat=repeat)
        rule_seconds, _, _ = measure(transport_run, str(sim), kind, 0.0, ["reference"], repeat=repeat)
        _, _, paced = measure(transport_run, str(sim), kind, LATENCY_RATE, repeat=repeat)
        rate, rule_rate = info["events"] / seconds, info["events"] / rule_seconds
        figures += [
            Figure(f"stream.run.{kind}", size, "events_per_s", rate, "events/s", "publish → every detector"),
            Figure(f"stream.run.{kind}", size, "reference_events_per_s", rule_rate, "events/s",
                   "publish → the reference rule alone"),
            Figure(f"stream.run.{kind}", size, "ratio_to_python_loop", rule_rate / loop_rate, "x",
                   "reference rule through the transport vs the same rule in a per-event loop"),
            Figure(f"stream.run.{kind}", size, "peak_rss", peak / 2**20, "MiB"),
        ]  # fmt: skip
        if paced["p50"] is not None:
            note = f"at {LATENCY_RATE:,} events/s, {paced['alerts']:,} alerts"
            figures += [
                Figure(f"stream.run.{kind}", size, "alert_latency_p50", paced["p50"] * 1000, "ms", note),
                Figure(f"stream.run.{kind}", size, "alert_latency_p99", paced["p99"] * 1000, "ms", note),
            ]
    return figures


def run_stream(work: Path, repeat: int) -> list[Figure]:
    from c360.stream.evaluate import evaluate_simulation

    sim = simulate(work)
    seconds, peak, events = measure(processor_only, str(sim), repeat=repeat)
    rule_seconds, _, _ = measure(processor_only, str(sim), ["reference"], repeat=repeat)
    replay_seconds, replay_peak, _ = measure(replay_files, str(sim), repeat=repeat)
    loop_seconds, _, loop_events = measure(python_loop, str(sim), repeat=repeat)
    if loop_events != events:
        raise AssertionError(f"the loop saw {loop_events} events, the processor {events}")
    size = f"{CUSTOMERS:,} customers, {events:,} events"
    figures = [
        Figure("stream.processor", size, "events_per_s", events / seconds, "events/s", "every detector"),
        Figure("stream.processor", size, "peak_rss", peak / 2**20, "MiB"),
        Figure("stream.replay", size, "events_per_s", events / replay_seconds, "events/s", "parse + process"),
        Figure("stream.replay", size, "peak_rss", replay_peak / 2**20, "MiB"),
        Figure(
            "stream.python_loop",
            size,
            "events_per_s",
            events / loop_seconds,
            "events/s",
            "reference rule alone, one event at a time",
        ),
        Figure(
            "stream.processor",
            size,
            "reference_events_per_s",
            events / rule_seconds,
            "events/s",
            "the reference rule alone",
        ),
        Figure(
            "stream.processor",
            size,
            "ratio_to_python_loop",
            loop_seconds / rule_seconds,
            "x",
            "reference rule alone: loop seconds / processor seconds",
        ),
    ]
    figures += run_transports(sim, repeat, size, events / loop_seconds)
    for seed in (42, 7):
        report = evaluate_simulation(simulate(work, CUSTOMERS, seed))
        label = f"{CUSTOMERS:,} customers, seed {seed}, {report['episodes']} episodes"
        figures += [
            Figure("stream.detect", label, "precision", report["precision"], ""),
            Figure("stream.detect", label, "strict_precision", report["strict_precision"], ""),
            Figure("stream.detect", label, "recall", report["recall"], ""),
            Figure(
                "stream.detect", label, "median_seconds_to_detect", report["median_seconds_to_detect"], "s"
            ),
        ]
    return figures


if __name__ == "__main__":
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="c360-bench-") as directory:
        for figure in run_stream(Path(directory), int(sys.argv[1]) if len(sys.argv) > 1 else 3):
            line = f"{figure.benchmark:20} {figure.metric:26} {figure.value:>14,.2f} {figure.unit:9}"
            print(line, figure.size)
