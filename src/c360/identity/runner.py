"""The identity step: stage tables → identity.record_customers, graph, id_changes, golden.

A full run matches every record with every other (blocked), clusters, and keeps yesterday's ids
through assign_ids. An incremental run (the default once a model and assignments exist) matches
only records not assigned yet against everything, and re-clusters only the customers they touch.
A run falls back to full when there is nothing to build on, when overrides changed since the last
run, or when a new record would join the two sides of an unlink.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from c360.errors import C360Error
from c360.identity.clusters import CHANGES_SCHEMA, assign_ids, connected_components, local_components
from c360.identity.golden import GOLDEN_SCHEMA, GOLDEN_TABLE, golden_records
from c360.identity.graph import GRAPH_SCHEMA, GRAPH_TABLE, change_reasons, graph_rows, mark_cuts
from c360.identity.overrides import (
    Override,
    active_overrides,
    add_link_edges,
    joined_unlinks,
    unlink_cuts,
)
from c360.identity.settings import IdentitySettings
from c360.lake.catalog import open_catalog
from c360.lake.lock import writer_lock
from c360.lake.tables import append_rows, ensure_table, load_table, read_arrow

if TYPE_CHECKING:
    import duckdb
    from pyiceberg.catalog.sql import SqlCatalog

    from c360.config import Project

RECORD_CUSTOMERS_TABLE = "identity.record_customers"
RECORD_CUSTOMERS_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("source", pa.string()),
        ("record_key", pa.string()),
        ("customer_id", pa.int64()),
        ("assigned_at", pa.timestamp("us", tz="UTC")),
        # The stage batch of the record's current version: a record changed by a later batch
        # (a CRM update) has its customer's golden record refreshed by an incremental run.
        ("batch_id", pa.string()),
    ]
)
ID_CHANGES_TABLE = "identity.id_changes"
ID_CHANGES_SCHEMA = pa.schema([("changed_at", pa.timestamp("us", tz="UTC")), *CHANGES_SCHEMA])

# (connection, records table, table of new records or None) → name of the edges table.
EdgeFinder = Callable[["duckdb.DuckDBPyConnection", str, str | None], str]
Progress = Callable[[str], None]


@dataclass
class Resolution:
    """What one resolution produced, before anything is written."""

    mode: str
    assignments: pa.Table
    changes: pa.Table
    graph: pa.Table
    golden: pa.Table
    new_records: int
    touched_customers: int | None = None  # incremental runs: customers recomputed


@dataclass
class IdentitySummary:
    mode: str
    records: int
    new_records: int
    customers: int
    edges: int
    new_customers: int
    merges: int
    splits: int
    model_version: str | None
    seconds: float
    warning: str | None = None

    @property
    def detail(self) -> str:
        text = (
            f"{self.mode}: {self.records:,} records → {self.customers:,} customers; "
            f"{self.new_customers:,} new, {self.merges:,} merges, {self.splits:,} splits"
        )
        return f"{text}; warning: {self.warning}" if self.warning else text


def _copy_edges(con: duckdb.DuckDBPyConnection, found: str) -> str:
    """Our own edges table (overrides are inserted into it): one row per unordered pair, the
    strongest, with the smaller record id on the left."""
    con.execute(
        "CREATE OR REPLACE TABLE resolution_edges AS "
        "SELECT least(record_id_l, record_id_r) AS record_id_l, "
        "greatest(record_id_l, record_id_r) AS record_id_r, "
        f"rule, match_probability::DOUBLE AS match_probability, evidence::VARCHAR AS evidence FROM {found} "
        "QUALIFY row_number() OVER (PARTITION BY least(record_id_l, record_id_r), "
        "greatest(record_id_l, record_id_r) ORDER BY match_probability DESC, rule) = 1"
    )
    return "resolution_edges"


def resolve(
    con: duckdb.DuckDBPyConnection,
    records: str,
    find_edges: EdgeFinder,
    previous: pa.Table | None,
    overrides: list[Override],
    settings: IdentitySettings,
    *,
    incremental: bool = False,
    first_new_id: int = 1,
    now: datetime | None = None,
    progress: Progress | None = None,
    previous_golden: pa.Table | None = None,
) -> Resolution:
    """Cluster the records of ``records`` and give them stable ids, kept from ``previous``
    (record_id, customer_id[, assigned_at, batch_id]) where it has them.

    An incremental resolution recomputes the golden record only for the customers it touched
    when ``previous_golden`` is given, and keeps the other customers' rows from it.
    """
    now = now or datetime.now(UTC)
    report = progress or (lambda _step: None)
    if incremental and previous is not None:
        local = _incremental(
            con, records, find_edges, previous, overrides, settings, first_new_id, now, report
        )
        if local is not None:
            assignments, changes, graph, new_count, touched = local
            report("golden record")
            golden = _golden_update(con, records, assignments, touched, previous_golden, settings)
            return Resolution("incremental", assignments, changes, graph, golden, new_count, len(touched))
    report("matching")
    edges = _copy_edges(con, find_edges(con, records, None))
    add_link_edges(con, edges, overrides)
    report("clustering")
    connected_components(con, records, edges, settings.threshold)
    cuts = unlink_cuts(con, "clusters", edges, settings.threshold, overrides)
    marked = mark_cuts(con, edges, cuts)
    if cuts:
        con.execute(f"CREATE OR REPLACE VIEW held_edges AS SELECT * FROM {marked} WHERE cut_reason IS NULL")
        connected_components(con, records, "held_edges", settings.threshold)
    report("stable ids")
    assignments, changes = assign_ids(con, "clusters", previous, first_new_id)
    new_count = _count_new(con, records, previous)
    changes = _with_reasons(con, changes, marked, assignments, previous, settings)
    graph = graph_rows(con, marked, settings.threshold, now)
    report("golden record")
    con.register("__assignments", assignments)
    golden = golden_records(con, records, "__assignments", settings)
    con.unregister("__assignments")
    return Resolution("full", assignments, changes, graph, golden, new_count)


def _count_new(con: duckdb.DuckDBPyConnection, records: str, previous: pa.Table | None) -> int:
    if previous is None:
        return con.execute(f"SELECT count(*) FROM {records}").fetchall()[0][0]
    con.register("__prev_ids", previous.select(["record_id"]))
    count = con.execute(f"SELECT count(*) FROM {records} ANTI JOIN __prev_ids USING (record_id)").fetchall()
    con.unregister("__prev_ids")
    return count[0][0]


def _with_reasons(
    con: duckdb.DuckDBPyConnection,
    changes: pa.Table,
    edges: str,
    assignments: pa.Table,
    previous: pa.Table | None,
    settings: IdentitySettings,
) -> pa.Table:
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __reason_edges AS SELECT *, "
        f"match_probability >= {settings.threshold!r} AND cut_reason IS NULL AS used FROM {edges}"
    )
    con.register("__assigned", assignments)
    prev = previous.select(["record_id", "customer_id"]) if previous is not None else None
    con.register("__previous", prev if prev is not None else assignments.slice(0, 0))
    result = change_reasons(con, changes, "__reason_edges", "__assigned", "__previous")
    con.unregister("__assigned")
    con.unregister("__previous")
    con.execute("DROP TABLE __reason_edges")
    return result


def _incremental(
    con: duckdb.DuckDBPyConnection,
    records: str,
    find_edges: EdgeFinder,
    previous: pa.Table,
    overrides: list[Override],
    settings: IdentitySettings,
    first_new_id: int,
    now: datetime,
    report: Progress,
) -> tuple[pa.Table, pa.Table, pa.Table, int, pa.Array] | None:
    """Assign the records not assigned yet; None when a full run is needed instead."""
    kept_columns = [c for c in ("record_id", "customer_id", "batch_id") if c in previous.column_names]
    con.register("__previous", previous.select(kept_columns))
    con.execute("CREATE OR REPLACE TABLE previous_ids AS SELECT * FROM __previous")
    con.unregister("__previous")
    con.execute(
        f"CREATE OR REPLACE TABLE new_records AS SELECT * FROM {records} "
        "ANTI JOIN previous_ids USING (record_id)"
    )
    new_count = con.execute("SELECT count(*) FROM new_records").fetchall()[0][0]
    report("matching new records")
    edges = _copy_edges(con, find_edges(con, records, "new_records") if new_count else _no_edges(con))
    report("clustering")
    local_components(con, "new_records", edges, "previous_ids", settings.threshold, out="local_clusters")
    if joined_unlinks(con, "local_clusters", overrides):
        return None  # only a full run sees every path between the two records to cut
    assigned, changes = assign_ids(con, "local_clusters", previous, first_new_id)
    con.register("__local", assigned)
    kept = con.sql(
        "SELECT record_id, customer_id FROM previous_ids ANTI JOIN __local USING (record_id)"
    ).to_arrow_table()
    updated = (
        f"UNION SELECT p.customer_id FROM previous_ids p JOIN {records} r USING (record_id) "
        "WHERE r.batch_id IS DISTINCT FROM p.batch_id"
        if "batch_id" in kept_columns
        else ""
    )
    touched = con.sql(f"SELECT customer_id FROM __local {updated}").to_arrow_table().column(0)
    con.unregister("__local")
    assignments = pa.concat_tables([kept.cast(assigned.schema), assigned]).sort_by("record_id")
    marked = mark_cuts(con, edges, [])
    changes = _with_reasons(con, changes, marked, assignments, previous, settings)
    graph = graph_rows(con, marked, settings.threshold, now)
    return assignments, changes, graph, new_count, pc.unique(touched.combine_chunks())


def _golden_update(
    con: duckdb.DuckDBPyConnection,
    records: str,
    assignments: pa.Table,
    touched: pa.Array,
    previous_golden: pa.Table | None,
    settings: IdentitySettings,
) -> pa.Table:
    """The golden records of the touched customers recomputed, every other customer's kept."""
    con.register("__assignments", assignments)
    if previous_golden is None:
        golden = golden_records(con, records, "__assignments", settings)
        con.unregister("__assignments")
        return golden
    con.register("__touched", pa.table({"customer_id": touched}))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __touched_assignments AS "
        "SELECT * FROM __assignments SEMI JOIN __touched USING (customer_id)"
    )
    fresh = golden_records(con, records, "__touched_assignments", settings)
    con.register("__previous_golden", previous_golden)
    # Customers merged away by this run are in neither list: their rows drop out.
    kept = con.sql(
        "SELECT * FROM __previous_golden ANTI JOIN __touched USING (customer_id) "
        "SEMI JOIN (SELECT DISTINCT customer_id FROM __assignments) USING (customer_id)"
    ).to_arrow_table()
    for name in ("__assignments", "__touched", "__previous_golden"):
        con.unregister(name)
    con.execute("DROP TABLE __touched_assignments")
    return pa.concat_tables([kept.cast(GOLDEN_SCHEMA), fresh]).sort_by("customer_id")


def _no_edges(con: duckdb.DuckDBPyConnection) -> str:
    con.execute(
        "CREATE OR REPLACE TABLE no_edges (record_id_l VARCHAR, record_id_r VARCHAR, rule VARCHAR, "
        "match_probability DOUBLE, evidence VARCHAR)"
    )
    return "no_edges"


def record_customer_rows(
    con: duckdb.DuckDBPyConnection,
    records: str,
    assignments: pa.Table,
    previous: pa.Table | None,
    now: datetime,
) -> pa.Table:
    """identity.record_customers rows: a record whose id did not change keeps its assigned_at."""
    con.register("__assigned", assignments)
    empty = RECORD_CUSTOMERS_SCHEMA.empty_table()
    con.register("__prev_rows", previous if previous is not None else empty)
    rows = con.sql(
        "SELECT a.record_id, r.source, r.record_key, a.customer_id, "
        "CASE WHEN p.customer_id = a.customer_id THEN p.assigned_at ELSE ?::TIMESTAMPTZ END AS assigned_at, "
        "r.batch_id "
        f"FROM __assigned a JOIN {records} r USING (record_id) "
        "LEFT JOIN __prev_rows p USING (record_id) ORDER BY a.record_id",
        params=[now],
    ).to_arrow_table()
    con.unregister("__assigned")
    con.unregister("__prev_rows")
    return rows.cast(RECORD_CUSTOMERS_SCHEMA)


def _replace(catalog: SqlCatalog, name: str, schema: pa.Schema, rows: pa.Table, note: str) -> None:
    with warnings.catch_warnings():
        # pyiceberg warns when an overwrite finds nothing to delete: the first run, not a problem.
        warnings.filterwarnings("ignore", "Delete operation did not match any records")
        table = ensure_table(catalog, name, schema)
        if any(field.name not in table.schema().column_names for field in schema):
            with table.update_schema() as update:
                update.union_by_name(pa.schema([field.with_nullable(True) for field in schema]))
        table.overwrite(rows.cast(schema), snapshot_properties={"c360.run": note})


def first_new_id(catalog: SqlCatalog) -> int:
    """Above every id ever given, so an id retired by a merge never names another person."""
    table = load_table(catalog, ID_CHANGES_TABLE)
    if table is None:
        return 1
    changes = read_arrow(table).select(["customer_id", "related_ids"])
    ids = [pc.max(changes.column("customer_id")).as_py() or 0]
    related = pc.list_flatten(changes.column("related_ids"))
    if len(related):
        ids.append(pc.max(related).as_py() or 0)
    return max(ids) + 1


def _read(catalog: SqlCatalog, name: str) -> pa.Table | None:
    table = load_table(catalog, name)
    return read_arrow(table) if table is not None else None


def _previous(catalog: SqlCatalog) -> pa.Table | None:
    rows = _read(catalog, RECORD_CUSTOMERS_TABLE)
    return rows if rows is not None and rows.num_rows else None


def _overrides_changed(catalog: SqlCatalog, overrides: list[Override]) -> bool:
    """An override newer than the last identity run needs a full run to take effect everywhere."""
    table = load_table(catalog, RECORD_CUSTOMERS_TABLE)
    snapshot = table.current_snapshot() if table is not None else None
    if not overrides or snapshot is None:
        return bool(overrides)
    last_run = datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC)
    return any(o.created_at > last_run for o in overrides)


class ModelStore:
    """The trained model in the lake: ``<lake>/identity/model.json`` is the one in use, and every
    trained model is also kept as ``<lake>/identity/models/<version>.json`` (the history).

    A model is replaced only after training succeeded, by an atomic rename, so a failed or
    interrupted training leaves the previous model in use.
    """

    def __init__(self, lake_dir: Path) -> None:
        self.directory = lake_dir / "identity"
        self.current = self.directory / "model.json"

    def load(self) -> tuple[Any, str | None]:
        from c360.identity.model import MatchModel

        if not self.current.is_file():
            return None, None
        try:
            saved = json.loads(self.current.read_text(encoding="utf-8"))
            return MatchModel.from_json(saved["model"]), saved["version"]
        except (ValueError, KeyError, TypeError) as error:
            raise C360Error(
                f"cannot read the match model {self.current}: {error}",
                hint="retrain it with `c360 identity train`, or copy a version from "
                f"{self.directory / 'models'} over it",
            ) from None

    def train(self, con: duckdb.DuckDBPyConnection, records: str) -> tuple[Any, str]:
        """Train on ``records`` and put the model in use; ModelDidNotConverge changes nothing."""
        from c360.identity.model import train

        model = train(con, records)
        trained_at = datetime.now(UTC)
        version = f"{trained_at:%Y%m%dT%H%M%S%f}"
        count = con.execute(f"SELECT count(*) FROM {records}").fetchall()[0][0]
        text = json.dumps(
            {
                "version": version,
                "trained_at": trained_at.isoformat(),
                "records": count,
                "model": model.to_json(),
            }
        )
        history = self.directory / "models"
        history.mkdir(parents=True, exist_ok=True)
        (history / f"{version}.json").write_text(text, encoding="utf-8")
        staging = self.directory / "model.json.tmp"
        staging.write_text(text, encoding="utf-8")
        os.replace(staging, self.current)
        return model, version

    def versions(self) -> list[str]:
        history = self.directory / "models"
        return sorted(path.stem for path in history.glob("*.json")) if history.is_dir() else []


def run_identity(
    project: Project, progress: Progress | None = None, *, full: bool = False
) -> IdentitySummary:
    with writer_lock(project.lake_dir, "c360 identity run"):
        return identity_locked(project, open_catalog(project), progress, full=full)


def rules_only_edges(con: duckdb.DuckDBPyConnection, records: str, new: str | None) -> str:
    """Edges from the deterministic rules alone: the fallback while no model could be trained."""
    from c360.identity import normalize
    from c360.identity.deterministic import deterministic_edges

    normalize.install(con)
    features = normalize.features(con, records, "__rules_features")
    new_ids = None
    if new is not None:
        con.execute(f"CREATE OR REPLACE TABLE __rules_new_ids AS SELECT record_id FROM {new}")
        new_ids = "__rules_new_ids"
    return deterministic_edges(con, features, "rule_edges", new_ids)


def _edge_finder(
    con: duckdb.DuckDBPyConnection, records: str, store: ModelStore, report: Progress
) -> tuple[EdgeFinder, str | None, str | None]:
    """(edge finder, model version, warning): the saved model, else a newly trained one, else
    rules only, with the training failure as the warning (the run still gives every record an id)."""
    from c360.identity.matching import find_edges

    model, version = store.load()
    if model is None:
        report("training the model")
        try:
            model, version = store.train(con, records)
        except C360Error as error:  # did not converge, or nothing to compare
            return rules_only_edges, None, f"{error} (this run linked records by the rules only)"
        except ValueError as error:
            # Splink cannot estimate a prior when no pair of records agrees on anything (records
            # without names or contacts): nothing for a model to learn, the rules still apply.
            return rules_only_edges, None, f"no model could be trained on these records ({error}); rules only"
    return (lambda c, r, new: find_edges(c, r, model, new=new)), version, None


def identity_locked(
    project: Project, catalog: SqlCatalog, progress: Progress | None = None, *, full: bool = False
) -> IdentitySummary:
    """The identity step with the lake's writer lock already held (the pipeline holds it)."""
    import duckdb

    from c360.identity.records import register_person_records

    started = time.perf_counter()
    report = progress or (lambda _step: None)
    settings: IdentitySettings = project.settings.identity
    con = duckdb.connect()
    try:
        report("person records")
        records = register_person_records(con, catalog)
        if not con.execute(f"SELECT count(*) FROM {records}").fetchall()[0][0]:
            return IdentitySummary("nothing to do (no person records staged)", 0, 0, 0, 0, 0, 0, 0, None, 0.0)
        finder, version, warning = _edge_finder(con, records, ModelStore(project.lake_dir), report)
        previous = _previous(catalog)
        overrides = active_overrides(catalog)
        incremental = not full and previous is not None and not _overrides_changed(catalog, overrides)
        now = datetime.now(UTC)
        resolution = resolve(
            con,
            records,
            finder,
            previous,
            overrides,
            settings,
            incremental=incremental,
            first_new_id=first_new_id(catalog),
            now=now,
            progress=report,
            previous_golden=_read(catalog, GOLDEN_TABLE) if incremental else None,
        )
        rows = record_customer_rows(con, records, resolution.assignments, previous, now)
        if resolution.touched_customers != 0:  # an incremental run with nothing new writes nothing
            report("writing the lake")
            _write(catalog, resolution, rows, now)
        return IdentitySummary(
            mode=resolution.mode,
            records=rows.num_rows,
            new_records=resolution.new_records,
            customers=resolution.golden.num_rows,
            edges=resolution.graph.num_rows,
            new_customers=_count(resolution.changes, "new"),
            merges=_count(resolution.changes, "merge"),
            splits=_count(resolution.changes, "split"),
            model_version=version,
            seconds=time.perf_counter() - started,
            warning=warning,
        )
    finally:
        con.close()


def _count(changes: pa.Table, kind: str) -> int:
    return pc.sum(pc.equal(changes.column("kind"), kind)).as_py() or 0


def _write(catalog: SqlCatalog, resolution: Resolution, rows: pa.Table, now: datetime) -> None:
    note = f"identity {resolution.mode} {now:%Y%m%dT%H%M%S}"
    _replace(catalog, RECORD_CUSTOMERS_TABLE, RECORD_CUSTOMERS_SCHEMA, rows, note)
    if resolution.mode == "full":
        _replace(catalog, GRAPH_TABLE, GRAPH_SCHEMA, resolution.graph, note)
    elif resolution.graph.num_rows:
        append_rows(ensure_table(catalog, GRAPH_TABLE, GRAPH_SCHEMA), resolution.graph, {"c360.run": note})
    if resolution.changes.num_rows:
        stamped = resolution.changes.add_column(
            0, "changed_at", pa.array([now] * resolution.changes.num_rows, pa.timestamp("us", tz="UTC"))
        )
        append_rows(
            ensure_table(catalog, ID_CHANGES_TABLE, ID_CHANGES_SCHEMA), stamped.cast(ID_CHANGES_SCHEMA)
        )
    _replace(catalog, GOLDEN_TABLE, GOLDEN_SCHEMA, resolution.golden, note)
