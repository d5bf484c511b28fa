"""``c360 stream``: replay, evaluate and run the real-time clickstream detectors."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from c360.commands.options import project_dir_option
from c360.errors import C360Error

if TYPE_CHECKING:
    from c360.stream.raw_sink import RawSink
    from c360.stream.runner import RunStats
    from c360.stream.transports.base import Transport


@click.group("stream")
def stream_group() -> None:
    """The real-time clickstream: replay recorded events through the bot and flood detectors."""


@stream_group.command("replay")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds of event time per second of wall time; 0 = as fast as possible.",
)
@click.option(
    "--alerts-file", type=click.Path(dir_okay=False, path_type=Path), help="Append alerts as JSON lines."
)
@click.option("--webhook", help="POST each micro-batch of alerts as a JSON array to this URL.")
@click.option(
    "--store", is_flag=True, help="Store alerts in the lake table analytics.stream_alerts (needs --dir)."
)
@project_dir_option
def stream_replay(
    path: Path, speed: float, alerts_file: Path | None, webhook: str | None, store: bool, directory: Path
) -> None:
    """Feed a recorded clickstream (a REES46 CSV or a folder of them) through the detectors."""
    from c360.console import print_alert, print_replay_summary, print_sink_summary
    from c360.stream.replay import replay
    from c360.stream.sinks import FileSink, WebhookSink

    sinks: list = []
    if alerts_file is not None:
        sinks.append(FileSink(alerts_file))
    if webhook is not None:
        sinks.append(WebhookSink(webhook))
    if store:
        from c360.config import load_project
        from c360.lake.catalog import open_catalog
        from c360.stream.alerts import AlertStore

        sinks.append(AlertStore(open_catalog(load_project(directory))))
    print_replay_summary(replay(path, speed=speed, on_alert=print_alert, sinks=sinks or None))
    print_sink_summary(sinks)


@stream_group.command("evaluate")
@click.option(
    "--sim",
    "sim_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="A directory written by `c360 simulate` (its clickstream and _truth/attacks.csv).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def stream_evaluate(sim_dir: Path, fmt: str) -> None:
    """Score detection against the simulator's labelled attack episodes."""
    from c360.console import print_evaluation
    from c360.stream.evaluate import evaluate_simulation

    report = evaluate_simulation(sim_dir)
    if fmt == "json":
        click.echo(json.dumps(report, default=str))
    else:
        print_evaluation(report)


@stream_group.command("run")
@click.option(
    "--transport",
    "kind",
    type=click.Choice(["memory", "redis", "nats"]),
    help="Override [stream.transport] kind (memory = in-process, the default).",
)
@click.option("--url", help="Override [stream.transport] url (redis://… or nats://…).")
@click.option(
    "--replay",
    "replay_path",
    type=click.Path(exists=True, path_type=Path),
    help="Publish this recorded clickstream (CSV or folder) into the transport as the run starts.",
)
@click.option("--no-raw", is_flag=True, help="Do not land the events in raw.clickstream.")
@click.option(
    "--alerts-file", type=click.Path(dir_okay=False, path_type=Path), help="Append alerts as JSON lines."
)
@click.option("--webhook", help="POST each micro-batch of alerts as a JSON array to this URL.")
@click.option("--store", is_flag=True, help="Store alerts in the lake table analytics.stream_alerts.")
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after this many seconds without events (default: run until Ctrl-C or SIGTERM).",
)
@project_dir_option
def stream_run(
    kind: str | None,
    url: str | None,
    replay_path: Path | None,
    no_raw: bool,
    alerts_file: Path | None,
    webhook: str | None,
    store: bool,
    idle_exit: float | None,
    directory: Path,
) -> None:
    """Consume the clickstream from the transport, detect continuously, land micro-batches in raw.

    Delivery is at least once and handling idempotent by event id: a killed run, restarted, goes on
    from its last acknowledged events without losing or counting any twice.
    """
    import signal

    from c360.config import load_project
    from c360.console import console, print_alert
    from c360.stream.service import wire_runner
    from c360.stream.settings import StreamSettings
    from c360.stream.sinks import FileSink, WebhookSink
    from c360.stream.transports import open_transport

    needs_project = store or not no_raw or (directory / "c360.toml").is_file()
    project = load_project(directory) if needs_project else None
    settings = project.settings.stream if project is not None else StreamSettings()
    overrides = {k: v for k, v in (("kind", kind), ("url", url)) if v is not None}
    if overrides:
        transport_settings = settings.transport.model_copy(update=overrides)
        settings = settings.model_copy(update={"transport": transport_settings})
    sinks: list = []
    if alerts_file is not None:
        sinks.append(FileSink(alerts_file))
    if webhook is not None:
        sinks.append(WebhookSink(webhook))
    transport = open_transport(settings.transport)
    wired = wire_runner(
        transport,
        settings,
        project,
        sinks=sinks,
        land_raw=not no_raw,
        store_alerts=store,
        on_alert=print_alert,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    publisher = None
    if replay_path is not None:
        publisher = _Replayer(transport, replay_path, stop)
        publisher.start()
    console.print(f"stream run: consuming from {transport.describe()} (Ctrl-C to stop)")
    try:
        with console.status("starting") as status:
            stats = wired.runner.run(stop, idle_exit_s=idle_exit, on_tick=lambda s: status.update(_tick(s)))
    finally:
        stop.set()
        if publisher is not None:
            publisher.join()
        transport.close()
        wired.close()
    if publisher is not None and publisher.error is not None:
        hint = "give a REES46-format clickstream CSV or a folder of them"
        raise C360Error(f"--replay {replay_path}: {publisher.error}", hint=hint)
    _print_run_summary(stats, wired.raw_sink, wired.sinks)


class _Replayer(threading.Thread):
    """Publishes a recording into the transport beside the run; an error stops the run."""

    def __init__(self, transport: Transport, path: Path, stop: threading.Event) -> None:
        super().__init__(name="c360-replay", daemon=True)
        self.transport, self.path, self.stop = transport, path, stop
        self.error: Exception | None = None

    def run(self) -> None:
        from c360.stream.replay import publish_files

        try:
            publish_files(self.transport, self.path, self.stop)
        except Exception as exc:
            self.error = exc
            self.stop.set()


def _tick(stats: RunStats) -> str:
    rate = stats.processed / stats.seconds if stats.seconds else 0.0
    return (
        f"{stats.processed:,} events ({rate:,.0f}/s), {stats.alerts:,} alerts, "
        f"{stats.duplicates:,} duplicates skipped"
    )


def _print_run_summary(stats: RunStats, raw_sink: RawSink | None, sinks: list) -> None:
    from c360.console import out, print_sink_summary

    p50, p99 = stats.latency_percentile(50), stats.latency_percentile(99)
    latency = f"; event-to-alert p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms" if p50 is not None else ""
    out.print(
        f"{stats.processed:,} events handled in {stats.seconds:.1f} s: {stats.alerts:,} alerts, "
        f"{stats.rejected:,} rejected, {stats.duplicates:,} redelivered duplicates skipped{latency}"
    )
    if stats.transport_errors:
        out.print(f"transport: {stats.transport_errors:,} failed calls (retried with backoff)")
    if raw_sink is not None:
        batches = len(raw_sink.batches)
        out.print(f"raw.{raw_sink.source}: {raw_sink.landed_events:,} events landed in {batches} batches")
    print_sink_summary(sinks)


@stream_group.command("send")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", help="The c360 server's base URL  [default: http://<[serve] host>:<[serve] port>]")
@click.option(
    "--key", envvar="C360_API_KEY", required=True, help="API key of a role that sees PII (or C360_API_KEY)."
)
@click.option("--batch", "batch_events", type=click.IntRange(1, 10_000), default=1_000, show_default=True)
@click.option("--retries", type=click.IntRange(min=0), default=5, show_default=True)
@project_dir_option
def stream_send(
    path: Path, url: str | None, key: str, batch_events: int, retries: int, directory: Path
) -> None:
    """Post a clickstream file (CSV or NDJSON) to the collector, POST /v1/events, in batches."""
    from c360.stream.client import send_with_progress

    if url is None:
        from c360.config import load_project

        serve = load_project(directory).settings.serve
        url = f"http://{serve.host}:{serve.port}"
    send_with_progress(path, url, key, batch_events=batch_events, retries=retries)
