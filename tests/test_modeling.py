"""Building SQL models into the lake: order, history, data tests, schema changes, lineage, versions."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from c360.config import Project
from c360.engine.errors import ModelError
from c360.errors import LakeError
from c360.lake.catalog import open_catalog
from c360.lake.lock import LakeBusyError, writer_lock
from c360.lake.tables import append_rows, ensure_table, load_table
from c360.modeling import (
    DataTestError,
    build,
    build_locked,
    describe,
    lineage,
    read_as_of,
    register_table_as_of,
    render_description,
    render_lineage,
    snapshots,
)
from tests.test_modeling_project import project_with_models

INT = "analytics.int_fixture_clients"
DIM = "analytics.dim_fixture_demographic"
C360 = "analytics.fixture_customer_360"
ALL = [INT, DIM, C360]

CLIENTS = pa.schema([("client_id", pa.int64()), ("birth_date", pa.date32()), ("gender", pa.string())])
ACCOUNTS = pa.schema([("account_id", pa.int64()), ("client_id", pa.int64()), ("balance", pa.float64())])
AS_OF = pa.schema([("as_of", pa.date32())])


def add_clients(project: Project, rows: list[tuple[int, date, str]]) -> None:
    catalog = open_catalog(project)
    data = pa.Table.from_pylist(
        [{"client_id": i, "birth_date": born, "gender": g} for i, born, g in rows], schema=CLIENTS
    )
    append_rows(ensure_table(catalog, "stage.fixture_clients", CLIENTS), data)


def add_accounts(project: Project, rows: list[tuple[int, int, float]]) -> None:
    catalog = open_catalog(project)
    data = pa.Table.from_pylist(
        [{"account_id": a, "client_id": c, "balance": b} for a, c, b in rows], schema=ACCOUNTS
    )
    append_rows(ensure_table(catalog, "stage.fixture_accounts", ACCOUNTS), data)


def set_as_of(project: Project, day: date) -> None:
    table = ensure_table(open_catalog(project), "stage.fixture_as_of", AS_OF)
    data = pa.Table.from_pylist([{"as_of": day}], schema=AS_OF)
    if table.current_snapshot() is None:
        append_rows(table, data)
    else:
        table.overwrite(data)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """The fixture models over three clients, four accounts, snapshot date 2024-06-30."""
    project = project_with_models(tmp_path)
    add_clients(
        project,
        [(1, date(1990, 1, 1), "F"), (2, date(2000, 5, 5), "M"), (3, date(1970, 3, 3), "F")],
    )
    add_accounts(project, [(10, 1, 100.0), (11, 1, 50.5), (12, 3, 7.0), (13, 3, 3.0)])
    set_as_of(project, date(2024, 6, 30))
    return project


def read(project: Project, name: str) -> pa.Table:
    table = load_table(open_catalog(project), name)
    assert table is not None
    return table.scan().to_arrow()


def rows(project: Project, name: str) -> list[dict]:
    return sorted(read(project, name).to_pylist(), key=lambda r: tuple(str(v) for v in r.values()))


def test_build_materializes_every_model_in_order(project: Project) -> None:
    result = build(project, ALL)
    assert [(r.model, r.rows, r.partitions) for r in result.runs] == [
        (INT, 3, ()),
        (DIM, 3, ()),
        (C360, 3, ("2024-06-30",)),
    ]
    assert all(r.seconds > 0 and r.snapshot_id for r in result.runs)
    assert read(project, DIM).to_pylist() == [
        {"customer_id": 1, "age": 34, "age_band": "25-34"},
        {"customer_id": 2, "age": 24, "age_band": "18-24"},
        {"customer_id": 3, "age": 54, "age_band": "45+"},
    ]
    assert [(r["customer_id"], r["accounts"], r["balance"]) for r in rows(project, C360)] == [
        (1, 2, 150.5),
        (2, 0, 0.0),
        (3, 2, 10.0),
    ]
    # Each snapshot names its build, and the input snapshots it read.
    table = load_table(open_catalog(project), DIM)
    summary = table.current_snapshot().summary.additional_properties
    assert summary["c360.build"] == result.build_id
    assert summary["c360.inputs"].startswith(f"{INT}@{result.runs[0].snapshot_id}")


def test_rebuild_with_unchanged_inputs_gives_identical_tables(project: Project) -> None:
    build(project, ALL)
    first = {name: read(project, name) for name in ALL}
    second_build = build(project, ALL)
    for name in ALL:
        assert read(project, name).equals(first[name]), name
    assert all(run.schema_changes == () for run in second_build.runs)


def test_selecting_a_model_builds_only_it_and_its_upstream(project: Project) -> None:
    result = build(project, [DIM])
    assert [r.model for r in result.runs] == [INT, DIM]
    assert load_table(open_catalog(project), C360) is None


def test_partitioned_model_keeps_one_partition_per_snapshot_date(project: Project) -> None:
    build(project, ALL)
    set_as_of(project, date(2024, 7, 31))
    add_accounts(project, [(14, 2, 20.0)])
    result = build(project, [C360])
    assert result.runs[-1].partitions == ("2024-07-31",)
    history = {(r["snapshot_date"], r["customer_id"]): r["balance"] for r in rows(project, C360)}
    assert history == {
        (date(2024, 6, 30), 1): 150.5,
        (date(2024, 6, 30), 2): 0.0,  # June is still as it was built then
        (date(2024, 6, 30), 3): 10.0,
        (date(2024, 7, 31), 1): 150.5,
        (date(2024, 7, 31), 2): 20.0,
        (date(2024, 7, 31), 3): 10.0,
    }
    # Rebuilding June replaces June only: customer 2's new account now shows there, July is untouched.
    set_as_of(project, date(2024, 6, 30))
    add_accounts(project, [(15, 3, 1.0)])
    build(project, [C360])
    history = {(r["snapshot_date"], r["customer_id"]): r["balance"] for r in rows(project, C360)}
    assert history[(date(2024, 6, 30), 2)] == 20.0
    assert history[(date(2024, 6, 30), 3)] == 11.0
    assert history[(date(2024, 7, 31), 3)] == 10.0
    assert len(history) == 6


def test_failing_data_tests_fail_the_build_and_keep_the_previous_table(project: Project) -> None:
    build(project, ALL)
    dim_before = read(project, DIM)
    c360_before = read(project, C360)
    # A 9-year-old gets the band 'under 18', which dim's accepted_values does not allow.
    add_clients(project, [(4, date(2015, 1, 1), "M"), (5, date(2016, 1, 1), "F")])
    dim_path = project.root / "models" / "dim_fixture_demographic.sql"
    with pytest.raises(DataTestError) as caught:
        build(project, ALL)
    message = str(caught.value)
    assert f"{DIM} failed 1 data test, so its table was left as it was" in message
    assert f"committed: {INT}" in message
    assert f"{dim_path}:5: accepted_values(age_band: 18-24, 25-34, 35-44, 45+)" in message
    assert "2 rows with other values: 'under 18' ×2" in message
    assert read(project, DIM).equals(dim_before)
    assert read(project, C360).equals(c360_before)  # not rebuilt on top of the failure
    assert read(project, INT).num_rows == 5  # upstream passed, so it was committed


def test_results_are_written_in_the_table_directory_and_a_failed_build_leaves_no_file(
    project: Project,
) -> None:
    build(project, ALL)
    add_clients(project, [(4, date(2015, 1, 1), "M")])  # 'under 18' fails dim's accepted_values
    with pytest.raises(DataTestError):
        build(project, ALL)
    catalog = open_catalog(project)
    for name in ALL:
        table = load_table(catalog, name)
        location = Path(table.location().removeprefix("file://"))
        referenced = {
            task.file.file_path.removeprefix("file://")
            for snapshot in table.snapshots()
            for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files()
        }
        on_disk = {
            str(path) for path in location.rglob("*") if path.is_file() and path.parent.name != "metadata"
        }
        assert on_disk == referenced, name  # the failed result's files are gone, spill files too
        assert all(path.startswith(f"{location}/data/") for path in referenced), name


def test_uniqueness_and_row_count_failures_show_offending_values(project: Project) -> None:
    build(project, ALL)
    before = read(project, INT)
    add_clients(project, [(1, date(1991, 1, 1), "F"), (1, date(1992, 1, 1), "F"), (3, date(1970, 3, 3), "F")])
    with pytest.raises(DataTestError) as caught:
        build(project, [INT])
    assert "unique(customer_id): 2 values repeated (3 extra rows): 1 ×3, 3 ×2" in str(caught.value)
    assert read(project, INT).equals(before)


def test_sql_error_names_the_model_file_and_line(project: Project) -> None:
    path = project.root / "models" / "broken.sql"
    path.write_text(
        "-- model: analytics.broken\n-- description: d\n\nSELECT\n    customer_id,\n    no_such_column\n"
        "FROM analytics.int_fixture_clients\n",
        encoding="utf-8",
    )
    with pytest.raises(ModelError) as caught:
        build(project, ["analytics.broken"])
    assert str(caught.value).startswith(
        f'{path}:6: Binder Error: Referenced column "no_such_column" not found'
    )
    # Upstream models were built before the broken one ran.
    assert read(project, INT).num_rows == 3


def test_runtime_error_is_located_too(project: Project) -> None:
    path = project.root / "models" / "broken.sql"
    path.write_text(
        "-- model: analytics.broken\n-- description: d\nSELECT\n  CAST(gender AS INTEGER) AS g\n"
        "FROM analytics.int_fixture_clients\n",
        encoding="utf-8",
    )
    with pytest.raises(ModelError, match=rf"^{path}:4: Conversion Error: Could not convert string 'F'"):
        build(project, ["analytics.broken"])


def test_a_model_outside_the_portable_subset_changes_nothing(project: Project) -> None:
    path = project.root / "models" / "weekday.sql"
    path.write_text(
        "-- model: analytics.weekday\n-- description: d\nSELECT customer_id,\n  dayofweek(birth_date) AS w\n"
        "FROM analytics.int_fixture_clients\n",
        encoding="utf-8",
    )
    with pytest.raises(ModelError, match=rf"^{path}:4: dayofweek\(\) is not portable"):
        build(project, ["analytics.weekday"])
    assert load_table(open_catalog(project), INT) is None  # checked before the first model ran


def test_header_columns_must_exist_in_the_result(project: Project) -> None:
    path = project.root / "models" / "stale.sql"
    path.write_text(
        "-- model: analytics.stale\n-- description: d\n-- column gone: documented but not returned\n"
        "SELECT customer_id FROM analytics.int_fixture_clients\n",
        encoding="utf-8",
    )
    with pytest.raises(ModelError, match=rf"^{path}:3: column gone names column 'gone'"):
        build(project, ["analytics.stale"])


def test_schema_changes_evolve_the_table_in_the_same_commit(project: Project) -> None:
    build(project, [DIM])
    path = project.root / "models" / "dim_fixture_demographic.sql"
    text = path.read_text(encoding="utf-8")
    # Add a column, drop one (age), and change a type the table cannot widen to (age_band → int).
    changed = (
        text.replace("    age,\n", "    age >= 18 AS adult,\n")
        .replace("    CASE\n", "    CAST(age / 10 AS INTEGER) AS decade,\n    CASE\n")
        .replace("-- column age: Whole years between birth and 2024-06-30\n", "")
    )
    path.write_text(changed, encoding="utf-8")
    run = build(project, [DIM]).runs[-1]
    assert set(run.schema_changes) == {"dropped age", "added adult boolean", "added decade int"}
    table = read(project, DIM)
    assert table.column_names == ["customer_id", "adult", "decade", "age_band"]
    assert table.to_pylist()[0] == {"customer_id": 1, "adult": True, "decade": 3, "age_band": "25-34"}
    retyped = changed.replace(
        "        ELSE '45+'\n    END AS age_band",
        "        ELSE '45+'\n    END AS age_band_text,\n    1 AS age_band",
    )
    path.write_text(
        retyped.replace("accepted_values(age_band:", "accepted_values(age_band_text:"), encoding="utf-8"
    )
    run = build(project, [DIM]).runs[-1]
    assert "age_band string → int" in run.schema_changes
    assert read(project, DIM).column("age_band").to_pylist() == [1, 1, 1]


def test_a_history_model_refuses_a_type_change_it_cannot_store(project: Project) -> None:
    build(project, ALL)
    path = project.root / "models" / "fixture_customer_360.sql"
    path.write_text(
        path.read_text(encoding="utf-8").replace("d.age_band,", "CAST(1 AS INTEGER) AS age_band,"),
        encoding="utf-8",
    )
    with pytest.raises(ModelError, match="column age_band changed type from string to int32"):
        build(project, [C360])
    assert rows(project, C360)[0]["age_band"] == "25-34"


def test_partition_spec_follows_the_header(project: Project) -> None:
    build(project, [DIM])
    path = project.root / "models" / "dim_fixture_demographic.sql"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("-- grain: customer_id\n", "-- grain: customer_id\n-- partition: age_band\n")
    )
    run = build(project, [DIM]).runs[-1]
    assert (run.schema_changes, run.partitions) == (("partitioned by age_band",), ("18-24", "25-34", "45+"))
    table = load_table(open_catalog(project), DIM)
    assert [field.name for field in table.spec().fields] == ["age_band"]
    assert sorted(task.file.partition[0] for task in table.scan().plan_files()) == ["18-24", "25-34", "45+"]
    path.write_text(text, encoding="utf-8")
    assert build(project, [DIM]).runs[-1].schema_changes == ("no longer partitioned",)
    assert table.refresh().spec().is_unpartitioned()
    assert read(project, DIM).num_rows == 3


def test_a_table_not_written_by_a_model_is_never_replaced(project: Project) -> None:
    catalog = open_catalog(project)
    append_rows(ensure_table(catalog, INT, CLIENTS), pa.Table.from_pylist([], schema=CLIENTS))
    with pytest.raises(ModelError, match=f"{INT} exists in the lake but was not written by a model"):
        build(project, [INT])


def test_lineage_follows_a_column_through_two_models_to_stage(project: Project) -> None:
    seen = []

    def raw_columns(table: str, column: str) -> list[str]:
        seen.append((table, column))
        return [f"raw.{table.split('.')[1].removeprefix('fixture_')}.{column}"]

    tree = lineage(project, f"{C360}.age_band", stage_source=raw_columns)
    assert (tree.table, tree.column, tree.expression) == (C360, "age_band", "d.age_band")
    dim = tree.sources[0]
    assert (dim.table, dim.column) == (DIM, "age_band")
    assert dim.expression.startswith("CASE WHEN aged.age < 18 THEN 'under 18'")
    clients = dim.sources[0]
    assert (clients.table, clients.column) == (INT, "birth_date")
    assert [(leaf.table, leaf.column, leaf.origins) for leaf in tree.leaves()] == [
        ("stage.fixture_clients", "birth_date", ["raw.clients.birth_date"])
    ]
    assert seen == [("stage.fixture_clients", "birth_date")]
    assert render_lineage(tree).splitlines() == [
        f"{C360}.age_band  = d.age_band",
        f"└── {DIM}.age_band  = {dim.expression}",
        f"    └── {INT}.birth_date  = c.birth_date",
        "        └── stage.fixture_clients.birth_date  ← raw.clients.birth_date",
    ]
    # Nothing was built: lineage reads the SQL, not the lake.
    customer = lineage(project, f"{C360}.customer_id")
    assert [(leaf.table, leaf.column) for leaf in customer.leaves()] == [
        ("stage.fixture_clients", "client_id")
    ]
    balance = lineage(project, f"{C360}.balance")
    assert [(leaf.table, leaf.column) for leaf in balance.leaves()] == [("stage.fixture_accounts", "balance")]


def test_catalog_describes_columns_grain_upstream_and_versions(project: Project) -> None:
    unbuilt = describe(project, C360)
    assert not unbuilt.built and [c.type for c in unbuilt.columns] == [None] * 5
    result = build(project, ALL)
    description = describe(project, C360)
    assert description.grain == ("customer_id", "snapshot_date")
    assert description.partition == "snapshot_date"
    assert description.upstream == [DIM, "stage.fixture_accounts", "stage.fixture_as_of"]
    assert description.row_count == 3
    assert [(c.name, c.type, c.description) for c in description.columns] == [
        ("customer_id", "long", "The customer"),
        ("snapshot_date", "date", "The day this profile describes"),
        ("age_band", "string", "Age band (from dim_fixture_demographic)"),
        ("accounts", "long", "Number of accounts held"),
        ("balance", "double", "Total balance of those accounts"),
    ]
    assert [(s.snapshot_id, s.operation, s.build_id) for s in description.snapshots] == [
        (result.runs[-1].snapshot_id, "append", result.build_id)
    ]
    clients = describe(project, INT)
    assert clients.downstream == [DIM]
    assert [c.pii for c in clients.columns] == [False, True, False]
    text = render_description(clients)
    assert "birth_date   date    Date of birth as the CRM has it [pii]" in text
    stage = describe(project, "stage.fixture_clients")
    assert stage.model_path is None and stage.row_count == 3


def test_time_travel_reads_the_previous_snapshot(project: Project) -> None:
    catalog = open_catalog(project)
    first = build(project, [DIM]).runs[-1].snapshot_id
    before = read(project, DIM)
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    add_clients(project, [(4, date(1985, 1, 1), "M")])
    build(project, [DIM])
    assert read(project, DIM).num_rows == 4
    assert read_as_of(catalog, DIM, snapshot_id=first).equals(before)
    assert read_as_of(catalog, DIM, as_of=between).equals(before)
    assert read_as_of(catalog, DIM).num_rows == 4
    # The overwrite wrote a delete snapshot then an append snapshot; only the append is a version.
    versions = snapshots(load_table(catalog, DIM))
    assert [(s.operation, s.complete, s.rows) for s in versions] == [
        ("append", True, 3),
        ("delete", False, 0),
        ("append", True, 4),
    ]
    con = duckdb.connect()
    register_table_as_of(con, load_table(catalog, DIM), DIM, first)
    assert con.sql(f"SELECT count(*), max(customer_id) FROM {DIM}").fetchall() == [(3, 3)]
    with pytest.raises(LakeError, match="has no snapshot 42"):
        read_as_of(catalog, DIM, snapshot_id=42)


def test_build_takes_the_writer_lock_and_build_locked_runs_under_a_held_one(project: Project) -> None:
    with writer_lock(project.lake_dir, "c360 run (test)"):
        with pytest.raises(LakeBusyError):
            build(project, [INT])
        result = build_locked(project, open_catalog(project), [INT])
    assert [r.model for r in result.runs] == [INT]
