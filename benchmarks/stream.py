"""Stream processing: events/s of the in-process processor (every detector), beside the reference rule
alone as a straightforward per-event Python loop over the same events, and detection quality.

The processor is timed on already-parsed micro-batches (``processor``) and from the CSV files
(``replay``: parse, validate and process); the loop gets its events as ready Python tuples, so
the ratio compares the detection work alone.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import Figure, measure, timed

CUSTOMERS = 100_000
SEED = 42


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
