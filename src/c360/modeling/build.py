"""``c360 build``: run the selected models and everything upstream of them, in dependency order.

For each model: DuckDB runs its SQL and writes the result, sorted (so a rebuild over unchanged
inputs writes the same table), as Parquet files in the table's directory; its data tests run over
those files; then the files are committed to its Iceberg table in one transaction. A failing test
stops the build before that commit (and removes the files), so the last good table stays in
place and the models downstream are not rebuilt on top of bad data.

An incremental model (``incremental:`` header) recomputes only the days that changed in its
source since its last build (see ``incremental.py``); ``full_refresh`` rebuilds it whole.

Every snapshot a build writes carries the build id, the model file's checksum and the snapshot
of each input it read, so any version of a table can be traced to the code and data behind it.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pyiceberg.expressions import In, Not

from c360.engine.duckdb import open_model
from c360.engine.portable import check_portable
from c360.lake.catalog import ZONES, open_catalog
from c360.lake.lock import writer_lock
from c360.lake.tables import load_table
from c360.modeling.datatests import DataTestError, check_declared_columns, run_data_tests
from c360.modeling.incremental import (
    Increment,
    changed_days,
    dated_inputs,
    fingerprint,
    input_days,
    plan_increment,
)
from c360.modeling.materialize import materialize, result_storable_schema, table_location, write_result
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
    mode: str = "full"  # "full", "incremental" (only ``partitions`` recomputed) or "up to date"


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
    project: Project,
    models: list[str] | None = None,
    reporter: BuildReporter | None = None,
    *,
    full_refresh: bool = False,
) -> BuildResult:
    """Build ``models`` (all if None) and the models upstream of them, holding the writer lock.

    ``full_refresh`` rebuilds incremental models whole instead of only their changed days.
    """
    what = " ".join(models) if models else "all models"
    with writer_lock(project.lake_dir, f"c360 build {what}"):
        return build_locked(project, open_catalog(project), models, reporter, full_refresh=full_refresh)


def build_locked(
    project: Project,
    catalog: SqlCatalog,
    models: list[str] | None = None,
    reporter: BuildReporter | None = None,
    *,
    model_set: ModelSet | None = None,
    full_refresh: bool = False,
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
        run = build_model(
            catalog,
            model,
            result.build_id,
            committed=[r.model for r in result.runs],
            code=fingerprint(model_set, model.name),
            full_refresh=full_refresh,
            dated=dated_inputs(model_set, model),
        )
        result.runs.append(run)
        reporter.model_finished(run)
    result.seconds = time.perf_counter() - started
    return result


def build_model(
    catalog: SqlCatalog,
    model: Model,
    build_id: str,
    committed: list[str] | None = None,
    *,
    code: str | None = None,
    full_refresh: bool = False,
    dated: dict[str, str] | None = None,
) -> ModelRun:
    """Run, test and commit one model whose inputs are up to date (the caller holds the lock).

    ``code``: the fingerprint of the model's SQL and its upstream's, which an incremental model
    records and compares (its own SQL's hash if not given); ``dated``: the inputs an incremental
    build reads only by day, with their date column (see ``incremental.dated_inputs``).
    """
    started = time.perf_counter()
    sha256 = hashlib.sha256(model.text.encode("utf-8")).hexdigest()
    increment = plan_increment(catalog, model, code or sha256, dated or {}, full_refresh=full_refresh)
    if increment is not None and increment.up_to_date:
        return _unchanged(catalog, model, started)
    days = increment.days if increment is not None else None
    inputs = _input_snapshots(catalog, model)
    location = table_location(catalog, model.name)
    directory = location / "data" / f"{build_id}-{uuid.uuid4().hex[:8]}"
    properties = {
        BUILD_PROPERTY: build_id,
        "c360.model-sha256": sha256,
        "c360.inputs": ",".join(f"{name}@{snapshot}" for name, snapshot in inputs.items()),
    }
    spill = directory.with_name(f".{directory.name}.spill")
    try:
        windows = (
            {name: (column, input_days(model, days)) for name, column in (dated or {}).items()}
            if days is not None
            else None
        )
        with open_model(catalog, model.path, model.inputs, spill, windows) as con:
            schema = result_storable_schema(con, model)
            check_declared_columns(schema.names, model.header, model.path)
            result = write_result(con, model, schema, directory, days)
            rows = result.rows + _rows_kept(catalog, model, increment)
            failures = run_data_tests(
                con, result.relation(), rows, model.header, lambda name: _row_count(catalog, name)
            )
            if days is not None and not failures:
                days = changed_days(con, catalog, model, result, days)
                result = result.only(days)
        if failures:
            raise DataTestError(model.name, model.path, failures, committed or [])
        written = materialize(
            catalog,
            model,
            result,
            properties,
            days,
            location=location,
            state=increment.state if increment is not None else None,
        )
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)  # nothing committed references them
        raise
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    return ModelRun(
        model.name,
        model.path,
        result.rows,
        time.perf_counter() - started,
        written.snapshot_id,
        written.partitions,
        written.schema_changes,
        "incremental" if days is not None else "full",
    )


def _unchanged(catalog: SqlCatalog, model: Model, started: float) -> ModelRun:
    """The run of an incremental model whose source has no new data: its table stays as it is."""
    table = load_table(catalog, model.name)
    snapshot = table.current_snapshot() if table is not None else None
    return ModelRun(
        model.name,
        model.path,
        0,
        time.perf_counter() - started,
        snapshot.snapshot_id if snapshot else None,
        (),
        (),
        "up to date",
    )


def _rows_kept(catalog: SqlCatalog, model: Model, increment: Increment | None) -> int:
    """Rows of the table an incremental build leaves in place, which its row-count tests include."""
    if increment is None or increment.days is None:
        return 0
    if not any(test.kind.startswith("row_count") for test in model.header.tests):
        return 0
    table = load_table(catalog, model.name)
    if table is None or table.current_snapshot() is None:
        return 0
    partition = model.header.partition
    assert partition is not None
    return table.scan(row_filter=Not(In(partition, list(increment.days)))).count()


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
