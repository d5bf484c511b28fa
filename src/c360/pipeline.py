"""``c360 run``: every step in order under one lake lock, each run recorded in ``ops.runs``.

The steps are the zones of the data flow: ingest (sources → raw), stage (raw → stage and
quarantine), identity (stage → identity: one stable customer_id per person), build (stage and
identity → analytics), publish (analytics → the profile store). A failed step
stops the run with its error; since every step commits batch by batch and skips what is done, the
next run resumes where this one stopped.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from c360.errors import C360Error
from c360.lake.catalog import open_catalog
from c360.lake.lock import writer_lock
from c360.lake.tables import append_rows, ensure_table

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

    from c360.config import Project

RUNS_TABLE = "ops.runs"
# One row per event of a run: its start, each step's end, the run's end. Appending events (rather
# than updating a row) keeps every write one Iceberg append, and a run killed part way still
# shows which steps it finished.
RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("step", pa.string()),
        ("status", pa.string()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
        ("rows", pa.int64()),
        ("seconds", pa.float64()),
        ("detail", pa.string()),
    ]
)


@dataclass
class StepOutcome:
    step: str
    status: str
    rows: int
    seconds: float
    detail: str


@dataclass
class RunOutcome:
    run_id: str
    status: str
    steps: list[StepOutcome] = field(default_factory=list)
    error: C360Error | None = None


Step = Callable[["Project", "SqlCatalog"], tuple[int, str]]


def _ingest(project: Project, catalog: SqlCatalog) -> tuple[int, str]:
    from c360.raw.ingest import ingest_locked

    result = ingest_locked(project, catalog)
    rows = sum(s.rows for s in result.sources)
    return rows, f"{sum(s.batches for s in result.sources)} batches from {len(result.sources)} sources"


def _stage(project: Project, catalog: SqlCatalog) -> tuple[int, str]:
    from c360.stage.runner import stage_locked

    result = stage_locked(project, catalog)
    staged = sum(s.stage_rows for s in result.sources)
    quarantined = sum(s.quarantine_rows for s in result.sources)
    return staged + quarantined, f"{staged} staged, {quarantined} quarantined"


def _identity(project: Project, catalog: SqlCatalog) -> tuple[int, str]:
    from c360.identity.runner import identity_locked

    summary = identity_locked(project, catalog)
    return summary.records, summary.detail


def _build(project: Project, catalog: SqlCatalog) -> tuple[int, str]:
    from c360.modeling import build_locked

    result = build_locked(project, catalog)
    skipped = f", {len(result.skipped)} skipped (inputs missing)" if result.skipped else ""
    return result.rows, f"{len(result.runs)} models{skipped}"


def _publish(project: Project, catalog: SqlCatalog) -> tuple[int, str]:
    from c360.lake.tables import load_table
    from c360.serve.store import publish

    if load_table(catalog, "analytics.customer_360") is None:
        return 0, "nothing to publish yet (no analytics.customer_360)"
    result = publish(project)
    return result.customers, f"version {result.version}: {result.identifiers} identifiers"


STEPS: list[tuple[str, Step]] = [
    ("ingest", _ingest),
    ("stage", _stage),
    ("identity", _identity),
    ("build", _build),
    ("publish", _publish),
]


def _event(
    catalog: SqlCatalog,
    run_id: str,
    step: str,
    status: str,
    rows: int = 0,
    seconds: float = 0.0,
    detail: str = "",
) -> None:
    row = {
        "run_id": run_id,
        "step": step,
        "status": status,
        "recorded_at": datetime.now(UTC),
        "rows": rows,
        "seconds": seconds,
        "detail": detail,
    }
    append_rows(
        ensure_table(catalog, RUNS_TABLE, RUNS_SCHEMA), pa.Table.from_pylist([row], schema=RUNS_SCHEMA)
    )


def run_pipeline(project: Project, on_step: Callable[[StepOutcome], Any] | None = None) -> RunOutcome:
    """Run every step once; a second run on the same lake meanwhile refuses (exit code 3)."""
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    with writer_lock(project.lake_dir, f"c360 run {run_id}"):
        catalog = open_catalog(project)
        _event(catalog, run_id, "run", "running")
        outcome = RunOutcome(run_id, "succeeded")
        started = time.perf_counter()
        for name, step in STEPS:
            step_started = time.perf_counter()
            try:
                rows, detail = step(project, catalog)
            except C360Error as error:
                seconds = time.perf_counter() - step_started
                outcome.steps.append(StepOutcome(name, "failed", 0, seconds, str(error)))
                _event(catalog, run_id, name, "failed", 0, seconds, str(error))
                outcome.status, outcome.error = "failed", error
                break
            seconds = time.perf_counter() - step_started
            step_outcome = StepOutcome(name, "succeeded", rows, seconds, detail)
            outcome.steps.append(step_outcome)
            _event(catalog, run_id, name, "succeeded", rows, seconds, detail)
            if on_step is not None:
                on_step(step_outcome)
        total = sum(s.rows for s in outcome.steps)
        _event(
            catalog,
            run_id,
            "run",
            outcome.status,
            total,
            time.perf_counter() - started,
            str(outcome.error) if outcome.error else "",
        )
    return outcome


def list_runs(project: Project, limit: int = 20) -> pa.Table:
    """The latest runs, newest first: one row each with its steps, rows, seconds and status."""
    from c360.lake.query import run_query

    catalog = open_catalog(project)
    ensure_table(catalog, RUNS_TABLE, RUNS_SCHEMA)
    return run_query(
        catalog,
        "SELECT run_id, min(recorded_at) AS started_at, "
        "coalesce(max(status) FILTER (WHERE step = 'run' AND status <> 'running'), 'interrupted') AS status, "
        "string_agg(step || ':' || status, ' → ' ORDER BY recorded_at) FILTER (WHERE step <> 'run') "
        "AS steps, "
        "sum(rows) FILTER (WHERE step <> 'run') AS rows, "
        "round(max(seconds) FILTER (WHERE step = 'run'), 2) AS seconds, "
        "max(detail) FILTER (WHERE status = 'failed') AS error "
        f"FROM ops.runs GROUP BY run_id ORDER BY started_at DESC LIMIT {int(limit)}",
    )


INTERVAL = re.compile(r"(\d+)\s*([smhd])")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> float:
    """'90s', '15m', '1h', '1d' (or combinations like '1h30m') → seconds."""
    cleaned = text.strip().lower()
    parts = INTERVAL.findall(cleaned)
    if not parts or INTERVAL.sub("", cleaned).strip():
        raise C360Error(f"cannot read the interval '{text}'", hint="write it like 30s, 15m, 1h or 1h30m")
    return float(sum(int(n) * UNIT_SECONDS[u] for n, u in parts))
