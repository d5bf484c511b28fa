"""``c360 build``: run the selected models and everything upstream of them, in dependency order.

For each model: run its SQL on DuckDB, sort the result (so a rebuild over unchanged inputs writes
the same table), run its data tests, then commit it to its Iceberg table in one transaction. A
failing test stops the build before that commit, so the last good table stays in place and the
models downstream are not rebuilt on top of bad data.

Every snapshot a build writes carries the build id, the model file's checksum and the snapshot
of each input it read, so any version of a table can be traced to the code and data behind it.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from c360.engine.duckdb import run_model
from c360.engine.portable import check_portable
from c360.lake.catalog import ZONES, open_catalog
from c360.lake.lock import writer_lock
from c360.lake.tables import load_table
from c360.modeling.datatests import DataTestError, check_declared_columns, run_data_tests
from c360.modeling.materialize import canonical_order, materialize, storable
from c360.modeling.project import Model, ModelSet, load_models

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

    from c360.config import Project

BUILD_PROPERTY = "c360.build"


class BuildReporter(Protocol):
    """Where progress goes (a Rich progress bar in the CLI, nothing in tests)."""

    def model_started(self, model: Model, position: int, total: int) -> None: ...

    def model_finished(self, run: ModelRun) -> None: ...


class _Silent:
    def model_started(self, model: Model, position: int, total: int) -> None:
        pass

    def model_finished(self, run: ModelRun) -> None:
        pass


@dataclass(frozen=True)
class ModelRun:
    model: str
    path: Path
    rows: int
    seconds: float
    snapshot_id: int | None
    partitions: tuple[str, ...]  # partition values replaced; empty when replaced whole
    schema_changes: tuple[str, ...]


@dataclass
class BuildResult:
    build_id: str
    runs: list[ModelRun] = field(default_factory=list)
    seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)
    """Models a whole build left out, each with the input table that does not exist."""

    @property
    def rows(self) -> int:
        return sum(run.rows for run in self.runs)


def build(
    project: Project, models: list[str] | None = None, reporter: BuildReporter | None = None
) -> BuildResult:
    """Build ``models`` (all if None) and the models upstream of them, holding the writer lock."""
    what = " ".join(models) if models else "all models"
    with writer_lock(project.lake_dir, f"c360 build {what}"):
        return build_locked(project, open_catalog(project), models, reporter)


def build_locked(
    project: Project,
    catalog: SqlCatalog,
    models: list[str] | None = None,
    reporter: BuildReporter | None = None,
    *,
    model_set: ModelSet | None = None,
) -> BuildResult:
    """Build with the lake's writer lock already held (the pipeline holds it for all its steps)."""
    reporter = reporter or _Silent()
    model_set = model_set if model_set is not None else load_models(project)
    tables = lake_tables(catalog)
    skipped: dict[str, str] = {}
    if models is None:
        models, skipped = model_set.buildable(tables)
    plan = model_set.plan(models, tables) if models else []
    for model in plan:  # every model is checked before the first one changes the lake
        check_portable(model.text, model.path)
    result = BuildResult(f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", skipped=skipped)
    started = time.perf_counter()
    for position, model in enumerate(plan, start=1):
        reporter.model_started(model, position, len(plan))
        run = build_model(catalog, model, result.build_id, committed=[r.model for r in result.runs])
        result.runs.append(run)
        reporter.model_finished(run)
    result.seconds = time.perf_counter() - started
    return result


def build_model(
    catalog: SqlCatalog, model: Model, build_id: str, committed: list[str] | None = None
) -> ModelRun:
    """Run, test and commit one model whose inputs are up to date (the caller holds the lock)."""
    started = time.perf_counter()
    inputs = _input_snapshots(catalog, model)
    result = storable(run_model(catalog, model.text, model.path, model.inputs), model.path)
    check_declared_columns(result, model.header, model.path)
    result = canonical_order(result, model.header.grain)
    failures = run_data_tests(result, model.header, lambda name: _row_count(catalog, name))
    if failures:
        raise DataTestError(model.name, model.path, failures, committed or [])
    properties = {
        BUILD_PROPERTY: build_id,
        "c360.model-sha256": hashlib.sha256(model.text.encode("utf-8")).hexdigest(),
        "c360.inputs": ",".join(f"{name}@{snapshot}" for name, snapshot in inputs.items()),
    }
    written = materialize(catalog, model, result, properties)
    return ModelRun(
        model.name,
        model.path,
        result.num_rows,
        time.perf_counter() - started,
        written.snapshot_id,
        written.partitions,
        written.schema_changes,
    )


def lake_tables(catalog: SqlCatalog) -> set[str]:
    return {f"{zone}.{ident[-1]}" for zone in ZONES for ident in catalog.list_tables(zone)}


def _input_snapshots(catalog: SqlCatalog, model: Model) -> dict[str, int | None]:
    snapshots: dict[str, int | None] = {}
    for name in model.inputs:
        table = load_table(catalog, name)
        snapshot = table.current_snapshot() if table is not None else None
        snapshots[name] = snapshot.snapshot_id if snapshot else None
    return snapshots


def _row_count(catalog: SqlCatalog, name: str) -> int:
    table = load_table(catalog, name)
    return table.scan().count() if table is not None else 0
