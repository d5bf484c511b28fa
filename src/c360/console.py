"""What the CLI shows: Rich progress bars while work runs, tables when it is done."""

from __future__ import annotations

import json
import sys
import time
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    import pyarrow as pa

    from c360.config import Project
    from c360.identity.runner import IdentitySummary
    from c360.modeling import BuildResult, Model, ModelRun
    from c360.pipeline import RunOutcome
    from c360.raw.ingest import IngestResult
    from c360.raw.manifest import BatchRecord
    from c360.stage.runner import StageResult
    from c360.stream.processor import Alert
    from c360.stream.replay import ReplayResult

# Piped output (logs, CI) is not wrapped at 80 columns: tables stay readable in a log file.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
out = Console(width=None if sys.stdout.isatty() else 120)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


class _IngestProgress:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, int] = {}
        self.rows: dict[str, int] = {}

    def start(self, source: str, files: int | None) -> None:
        self.rows[source] = 0
        self.tasks[source] = self.progress.add_task(source, total=files, note="")

    def landed(self, source: str, record: BatchRecord | None) -> None:
        if record is not None:
            self.rows[source] += record.rows
        self.progress.update(self.tasks[source], advance=1, note=f"{self.rows[source]:,} rows")


def ingest_with_progress(project: Project, only: list[str] | None) -> IngestResult:
    from c360.raw.ingest import IngestError, ingest

    started = time.perf_counter()
    try:
        with _progress() as progress:
            result = ingest(project, only, _IngestProgress(progress))
    except IngestError as failed:
        print_ingest_summary(failed.result, time.perf_counter() - started)
        raise
    print_ingest_summary(result, time.perf_counter() - started)
    return result


def print_ingest_summary(result: IngestResult, seconds: float) -> None:
    table = Table(
        title="Landed in the raw zone (skipped: files whose exact bytes had landed before)",
        title_justify="left",
        pad_edge=False,
        box=box.SIMPLE_HEAD,
    )
    for column in ("source", "kind", "status", "batches", "skipped", "rows", "rejected", "MB", "seconds"):
        table.add_column(column, justify="left" if column in ("source", "kind", "status") else "right")
    for s in result.sources:
        table.add_row(
            s.source,
            s.kind,
            "[red]failed[/red]" if s.error else "ok",
            f"{s.batches:,}",
            f"{s.skipped:,}",
            f"{s.rows:,}",
            f"{s.rejected:,}",
            f"{s.bytes / 1e6:,.1f}",
            f"{s.seconds:.2f}",
        )
    out.print(table)
    if result.restored or result.orphans_removed:
        out.print(
            f"recovered from an interrupted run: {result.restored} manifest rows restored, "
            f"{result.orphans_removed} incomplete batches removed"
        )
    total = sum(s.rows for s in result.sources)
    out.print(f"{total:,} rows in {seconds:.1f} s")


class _StageProgress:
    def __init__(self, progress: Progress, sources: int) -> None:
        self.progress = progress
        self.task = progress.add_task("stage", total=sources, note="")

    def staged(self, source: str, batches: int, stage_rows: int, quarantine_rows: int) -> None:
        self.progress.update(self.task, advance=1, note=f"{source}: {batches} batches")


def stage_with_progress(project: Project, only: list[str] | None) -> StageResult:
    from c360.stage.runner import stage

    started = time.perf_counter()
    with _progress() as progress:
        result = stage(project, only, _StageProgress(progress, len(project.source_names(only))))
    table = Table(
        title="Staged (raw rows = stage rows + quarantine rows, checked per batch)",
        title_justify="left",
        pad_edge=False,
        box=box.SIMPLE_HEAD,
    )
    for column in (
        "source",
        "contract",
        "batches",
        "raw rows",
        "staged",
        "quarantined",
        "duplicates",
        "seconds",
    ):
        table.add_column(column, justify="left" if column in ("source", "contract") else "right")
    for s in result.sources:
        table.add_row(
            s.source,
            s.contract,
            f"{s.batches:,}",
            f"{s.raw_rows:,}",
            f"{s.stage_rows:,}",
            f"{s.quarantine_rows:,}",
            f"{s.duplicates:,}",
            f"{s.seconds:.2f}",
        )
    out.print(table)
    for s in result.sources:
        for message in s.messages:
            out.print(f"[yellow]{s.source}[/yellow]: batch {message}")
    if result.without_contract:
        out.print(
            f"not staged (no contract): {', '.join(result.without_contract)}; "
            "add contracts/<name>.toml (docs/contracts.md)"
        )
    out.print(
        f"staged in {time.perf_counter() - started:.1f} s; see the reasons with "
        'c360 sql "SELECT rule, column_name, count(*) FROM quarantine.<source> GROUP BY ALL"'
    )
    return result


class _BuildProgress:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: int | None = None

    def model_started(self, model: Model, position: int, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task("build", total=total, note="")
        self.progress.update(self.task, note=model.name)

    def model_finished(self, run: ModelRun) -> None:
        if self.task is not None:
            self.progress.update(self.task, advance=1)


def build_with_progress(
    project: Project, models: list[str] | None, *, full_refresh: bool = False
) -> BuildResult:
    from c360.modeling import build

    with _progress() as progress:
        result = build(project, models, _BuildProgress(progress), full_refresh=full_refresh)
    table = Table(
        title=f"Built (build {result.build_id})", title_justify="left", pad_edge=False, box=box.SIMPLE_HEAD
    )
    for column in ("model", "mode", "rows", "seconds", "partitions replaced", "schema changes"):
        table.add_column(column, justify="right" if column in ("rows", "seconds") else "left")
    for run in result.runs:
        table.add_row(
            run.model,
            run.mode,
            f"{run.rows:,}",
            f"{run.seconds:.2f}",
            _replaced(run),
            "; ".join(run.schema_changes),
        )
    out.print(table)
    out.print(f"{len(result.runs)} models in {result.seconds:.1f} s")
    if result.skipped:
        lacking = sorted(set(result.skipped.values()))
        out.print(
            f"[yellow]{len(result.skipped)} models not built[/yellow]: their inputs are missing "
            f"({', '.join(lacking)}); ingest and stage those sources to build them"
        )
    return result


def _replaced(run: ModelRun) -> str:
    """Which partitions a model run replaced: whole, none, or the days (elided when many)."""
    if run.mode == "full" and not run.partitions:
        return "whole"
    if len(run.partitions) > 3:
        return f"{run.partitions[0]} … {run.partitions[-1]} ({len(run.partitions)} days)"
    return ", ".join(run.partitions) or "none"


def run_with_progress(project: Project) -> RunOutcome:
    from c360.pipeline import run_pipeline

    with console.status("running the pipeline…") as status:
        outcome = run_pipeline(project, on_step=lambda s: status.update(f"{s.step} done ({s.rows:,} rows)…"))
    table = Table(
        title=f"Run {outcome.run_id}: {outcome.status}",
        title_justify="left",
        pad_edge=False,
        box=box.SIMPLE_HEAD,
    )
    for column in ("step", "status", "rows", "seconds", "detail"):
        table.add_column(column, justify="right" if column in ("rows", "seconds") else "left")
    for step in outcome.steps:
        color = "green" if step.status == "succeeded" else "red"
        table.add_row(
            step.step,
            f"[{color}]{step.status}[/{color}]",
            f"{step.rows:,}",
            f"{step.seconds:.2f}",
            step.detail.splitlines()[0] if step.detail else "",
        )
    out.print(table)
    if outcome.error is not None:
        raise outcome.error
    return outcome


def run_on_schedule(project: Project, interval: float) -> None:
    """The scheduler: one run at a time, each starting ``interval`` after the previous start.

    Ctrl-C (or SIGTERM) lets the current run finish and then stops: interrupting a run halfway
    would only make the next one repair it. A second Ctrl-C interrupts at once.
    """
    import signal
    import threading

    from c360.errors import C360Error

    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        console.print("stopping after the current run (Ctrl-C again to interrupt it)")

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    out.print(f"running every {interval:g} s; Ctrl-C stops after the current run")
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                run_with_progress(project)
            except C360Error as error:
                console.print(f"[red]run failed:[/red] {error}")
            wait = max(0.0, interval - (time.monotonic() - started))
            if not stop.is_set():
                out.print(f"next run in {wait:.0f} s")
                stop.wait(wait)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    out.print("stopped")


def simulate_with_progress(customers: int, seed: int, target: Path) -> None:
    from c360.simulate import generate

    with _progress() as progress:
        task = progress.add_task("simulate", total=None, note="")

        def report(step: str, rows: int) -> None:
            progress.update(task, advance=1, note=f"{step}: {rows:,} rows")

        summary = generate(customers, seed, target, progress=report)
    out.print(
        f"{customers:,} customers simulated into {target} in {summary.seconds:.1f} s "
        f"(ground truth in {target / '_truth'})"
    )


def print_alert(alert: Alert) -> None:
    color = {"high": "red", "medium": "yellow"}.get(alert.severity, "white")
    out.print(
        f"[{color}]{alert.severity:<6}[/{color}] {alert.detected_at_event_time:%Y-%m-%d %H:%M:%S} "
        f"{alert.detector:<18} {alert.key_type}={alert.key_value} ({alert.count} in window)"
    )


def print_replay_summary(result: ReplayResult) -> None:
    counts = result.counts
    out.print(
        f"{counts.events:,} events in {result.seconds:.2f} s ({result.events_per_second:,.0f} events/s): "
        f"{counts.alerts:,} alerts, {counts.suppressed:,} repeats suppressed by the cooldown, "
        f"{counts.late:,} late events dropped, {counts.out_of_order:,} out of order kept"
    )
    if result.rejects.counts:
        reasons = ", ".join(f"{reason}: {n:,}" for reason, n in sorted(result.rejects.counts.items()))
        out.print(f"rejected events: {reasons}")


def print_sink_summary(sinks: list[object]) -> None:
    """What each alert sink did: delivered, failed, stored, already stored."""
    from c360.stream.alerts import AlertStore
    from c360.stream.sinks import FileSink, WebhookSink

    for sink in sinks:
        if isinstance(sink, FileSink):
            out.print(f"alerts file: {sink.written:,} alerts appended")
        elif isinstance(sink, WebhookSink):
            out.print(f"webhook: {sink.delivered:,} alerts delivered, {sink.failures:,} batches failed")
        elif isinstance(sink, AlertStore):
            out.print(
                f"stored {sink.written:,} new alerts in analytics.stream_alerts "
                f"({sink.skipped:,} already stored)"
            )


def print_evaluation(report: dict[str, object]) -> None:
    table = Table(
        title="Detection against the simulator's labelled attacks",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in (
        "precision",
        "incident_precision",
        "lenient_precision",
        "incidents",
        "recall",
        "median_seconds_to_detect",
        "episodes",
        "detected",
        "alerts",
        "events",
        "late_dropped",
        "events_per_second",
    ):
        value = report.get(key)
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else f"{value}")
    out.print(table)
    if report.get("missed"):
        out.print(f"missed episodes: {report['missed']}")


def print_profile(profile: dict[str, object]) -> None:
    """One customer_360 row as a card: every non-empty attribute, in the table's column order."""
    if not profile:
        out.print("no customer in analytics.customer_360 yet")
        return
    table = Table(
        title=f"customer {profile.get('customer_id')}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_header=False,
        pad_edge=False,
    )
    for _ in range(2):
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column(no_wrap=True)
    cells = [(name, str(value)) for name, value in profile.items() if value not in (None, "", 0, 0.0)]
    for start in range(0, len(cells), 2):
        row = [part for cell in cells[start : start + 2] for part in cell]
        table.add_row(*row, *[""] * (4 - len(row)))
    out.print(table)


def _json_value(value: object) -> object:
    """Decimals as JSON numbers (not strings), dates and times in ISO 8601, anything else as text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date | datetime | time_of_day):
        return value.isoformat()
    return str(value)


def print_arrow(data: pa.Table, fmt: str, limit: int) -> None:
    if fmt == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(data, sys.stdout.buffer)
    elif fmt == "json":
        for row in data.to_pylist():
            sys.stdout.write(json.dumps(row, default=_json_value) + "\n")
    else:
        table = Table()
        for name in data.column_names:
            table.add_column(name)
        for row in data.slice(0, limit).to_pylist():
            table.add_row(*("" if value is None else str(value) for value in row.values()))
        out.print(table)
        if data.num_rows > limit:
            out.print(f"{data.num_rows:,} rows, first {limit:,} shown (use --limit or --format csv)")


def print_identity_summary(summary: IdentitySummary) -> None:
    table = Table(
        title=f"Identity ({summary.mode} run)", title_justify="left", box=box.SIMPLE, show_header=False
    )
    table.add_column("")
    table.add_column("", justify="right")
    for label, value in (
        ("records", summary.records),
        ("records not seen before", summary.new_records),
        ("customers", summary.customers),
        ("edges written to identity.graph", summary.edges),
        ("new customer ids", summary.new_customers),
        ("merges", summary.merges),
        ("splits", summary.splits),
    ):
        table.add_row(label, f"{value:,}")
    table.add_row("model", summary.model_version or "none")
    table.add_row("seconds", f"{summary.seconds:.1f}")
    out.print(table)
    if summary.warning:
        out.print(f"[yellow]warning[/yellow]: {summary.warning}")


def print_identity_evaluation(report: dict[str, float], truth: Path) -> None:
    table = Table(title=f"Identity against {truth}", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in report.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else f"{value:,}")
    out.print(table)
