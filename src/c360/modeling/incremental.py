"""Which days an incremental model must recompute, from what changed in its source since its build.

Each build of an incremental model records, in a table property, the snapshot of the source
table it saw and a fingerprint of its SQL and of every model upstream of it. The next build
compares the source's data files now with its data files then: the files added or removed since
(new stage batches, a batch staged again) are read for the days of their rows, and the model
recomputes those days and the ``margin_days`` on each side of them (a session that crosses
midnight changes the day it started on). Of the recomputed days, only those whose rows differ
from the table's are replaced, so a neighbouring day that did not change keeps its files and
its snapshot. Files rather than batch ids, because a batch staged again keeps its id but gets
new files, and the recorded state stays one snapshot id however many batches arrive.

Anything the comparison cannot vouch for means a full build: no recorded state, another SQL
(the model's or an upstream model's), a new snapshot of an input read whole, an expired source
snapshot, delete files, unreadable files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import duckdb

from c360.engine.errors import ModelError
from c360.lake.query import register_table
from c360.lake.tables import load_table

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table

    from c360.modeling.materialize import Result
    from c360.modeling.project import Model, ModelSet

STATE_PROPERTY = "c360.incremental"
PREVIOUS = "analytics.__c360_previous"  # the table as it is, beside the recomputed days


@dataclass(frozen=True)
class Increment:
    """What a build of an incremental model does: ``days`` None rebuilds it whole, () nothing."""

    days: tuple[date, ...] | None
    state: dict[str, str]  # table properties recording what this build saw

    @property
    def up_to_date(self) -> bool:
        return self.days == ()


def fingerprint(model_set: ModelSet, name: str) -> str:
    """A hash of the SQL of ``name`` and of every model upstream of it.

    Changing any of them can change every day of the table, so it forces a full build.
    """
    digest = hashlib.sha256()
    for model in model_set.order([name]):
        digest.update(model.name.encode("utf-8") + b"\0" + model.text.encode("utf-8") + b"\0")
    return digest.hexdigest()


def dated_inputs(model_set: ModelSet, model: Model) -> dict[str, str]:
    """The inputs an incremental build of ``model`` reads only by day, each with its date column.

    Those are its source (by the source's time column) and the incremental models over the same
    source (by their partition column). Recomputing day D needs their rows of D ± margin, no
    more: a session spans at most ``margin_days`` midnights, so a session cut at the edge of that
    window is dated outside the recomputed days, and the rows written for them are whole.
    Other inputs are read whole.
    """
    spec = model.header.incremental
    if spec is None:
        return {}
    dated: dict[str, str] = {}
    for name in model.inputs:
        upstream = model_set.get(name)
        upstream_spec = upstream.header.incremental if upstream is not None else None
        if name == spec.source:
            dated[name] = spec.source_column
        elif upstream is not None and upstream_spec is not None and upstream_spec.source == spec.source:
            assert upstream.header.partition is not None
            dated[name] = upstream.header.partition
    return dated


def input_days(model: Model, days: tuple[date, ...]) -> tuple[date, ...]:
    """The days of its dated inputs a build recomputing ``days`` of ``model`` reads."""
    spec = model.header.incremental
    assert spec is not None
    margin = range(-spec.margin_days, spec.margin_days + 1)
    return tuple(sorted({day + timedelta(days=shift) for day in days for shift in margin}))


def plan_increment(
    catalog: SqlCatalog, model: Model, code: str, dated: Collection[str], *, full_refresh: bool
) -> Increment | None:
    """The increment of ``model`` (None when it is not incremental).

    ``code``: its fingerprint; ``dated``: the inputs it reads by day. Every other input is read
    whole, so any change to it can change every day: its snapshot is recorded too, and a new one
    means a full build.
    """
    spec = model.header.incremental
    if spec is None:
        return None
    source = load_table(catalog, spec.source)
    if source is not None and spec.source_column not in source.schema().column_names:
        raise ModelError(
            model.path,
            model.header.line_of.get("incremental"),
            f"incremental: {spec.source} has no column {spec.source_column}",
            hint=f"its columns: {', '.join(source.schema().column_names)}",
        )
    current = source.current_snapshot() if source is not None else None
    whole = {name: _snapshot_id(catalog, name) for name in sorted(model.inputs) if name not in dated}
    seen = {"source": spec.source, "snapshot": current.snapshot_id if current else None, "code": code}
    state = {STATE_PROPERTY: json.dumps({**seen, "whole": whole}, sort_keys=True)}
    full = Increment(None, state)
    if full_refresh or source is None or current is None:
        return full
    recorded = _recorded(catalog, model.name)
    if recorded is None or any(recorded.get(key) != seen[key] for key in ("source", "code")):
        return full
    if recorded.get("whole") != whole:
        return full
    if recorded.get("snapshot") == current.snapshot_id:
        return Increment((), state)
    changed = _changed_files(source, recorded.get("snapshot"))
    days = _days(changed, spec.source_column) if changed is not None else None
    if days is None:
        return full
    return Increment(input_days(model, tuple(days)), state)


def _snapshot_id(catalog: SqlCatalog, name: str) -> int | None:
    table = load_table(catalog, name)
    snapshot = table.current_snapshot() if table is not None else None
    return snapshot.snapshot_id if snapshot else None


def changed_days(
    con: duckdb.DuckDBPyConnection, catalog: SqlCatalog, model: Model, result: Result, days: tuple[date, ...]
) -> tuple[date, ...]:
    """Of the recomputed ``days``, those whose rows in ``result`` differ from the table's rows."""
    table = load_table(catalog, model.name)
    if table is None or table.current_snapshot() is None:
        return days
    if table.schema().column_names != result.schema.names:
        return days  # a new column or order: every recomputed day is written in the new layout
    partition = model.header.partition
    assert partition is not None
    register_table(con, table, PREVIOUS)
    column = '"' + partition.replace('"', '""') + '"'
    listed = ", ".join(f"DATE '{day.isoformat()}'" for day in days)
    previous = f"SELECT * FROM {PREVIOUS} WHERE {column} IN ({listed})"
    new = f"SELECT * FROM {result.relation()}"
    found = con.execute(
        f"SELECT DISTINCT {column} FROM "
        f"(({new} EXCEPT ALL {previous}) UNION ALL ({previous} EXCEPT ALL {new}))"
    ).fetchall()
    return tuple(sorted(row[0] for row in found))


def _recorded(catalog: SqlCatalog, name: str) -> dict | None:
    table = load_table(catalog, name)
    text = table.properties.get(STATE_PROPERTY) if table is not None else None
    if text is None:
        return None
    try:
        recorded = json.loads(text)
    except json.JSONDecodeError:
        return None
    return recorded if isinstance(recorded, dict) else None


def _changed_files(source: Table, snapshot_id: object) -> list[str] | None:
    """Data files in the source now but not at ``snapshot_id``, or then but not now."""
    if not isinstance(snapshot_id, int) or source.snapshot_by_id(snapshot_id) is None:
        return None  # expired, or a table dropped and created again
    now = list(source.scan().plan_files())
    then = list(source.scan(snapshot_id=snapshot_id).plan_files())
    if any(task.delete_files for task in [*now, *then]):
        return None  # rows deleted in place: which days they held is not in the file list
    return sorted({task.file.file_path for task in now} ^ {task.file.file_path for task in then})


def _days(files: list[str], column: str) -> set[date] | None:
    if not files:
        return set()
    listed = ", ".join("'" + path.removeprefix("file://").replace("'", "''") + "'" for path in files)
    quoted = '"' + column.replace('"', '""') + '"'
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        found = con.execute(
            f"SELECT DISTINCT CAST({quoted} AS DATE) FROM read_parquet([{listed}], union_by_name = true) "
            f"WHERE {quoted} IS NOT NULL"
        ).fetchall()
    except duckdb.Error:
        return None  # a removed file already deleted from disk: only a full build is safe
    finally:
        con.close()
    return {row[0] for row in found}
