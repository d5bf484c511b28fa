"""Incremental daily KPIs: a build recomputes only the days new stage batches can change.

The events are those of ``test_kpi_golden`` (Monday 2024-06-03 and Tuesday 2024-06-04), staged
in batches as a daily load would bring them:

1. Monday's events, without the part of s2 that runs past midnight.
2. Tuesday's events, without s2's: Monday's partitions must keep their files and snapshot.
3. s2's three events after midnight: its session started on Monday, so Monday changes (and
   Tuesday, although recomputed as Monday's neighbour, keeps its files).
4. A late event for Monday, in a new session: Monday again.

After each step every incremental table (the two click intermediates and the four daily KPIs)
must equal a full rebuild over the same stage rows, and at the end the tables equal the golden
values worked out by hand in ``test_kpi_golden``. The other tests: no new batch changes nothing,
``full_refresh`` rebuilds whole, and so does a change to the SQL of an upstream model or a new
snapshot of an input read whole.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from c360.config import Project, load_project
from c360.lake.catalog import open_catalog
from c360.lake.tables import append_rows, ensure_table, load_table
from c360.modeling import build
from c360.modeling.build import BuildResult
from tests.projects import write_project
from tests.test_kpi_golden import EVENTS, MONDAY, TUESDAY, click_rows, rows
from tests.test_models_golden import write_stage

DAILY = [
    "analytics.kpi_unique_visitors_daily",
    "analytics.kpi_funnel_daily",
    "analytics.kpi_cart_abandonment_daily",
    "analytics.kpi_revenue_daily",
]
EVENTS_TABLE = "analytics.int_click_events"
SESSIONS_TABLE = "analytics.int_click_sessions"
INCREMENTAL = [EVENTS_TABLE, SESSIONS_TABLE, *DAILY]
ALL_ROWS = click_rows()
S2_AFTER_MIDNIGHT = [
    i for i, (session, _, when, _, _) in enumerate(EVENTS) if session == "s2" and when >= "2024-06-04"
]
LATE = {
    **ALL_ROWS[0],
    "user_session": "s6",
    "user_id": 6,
    "event_time": datetime(2024, 6, 3, 11, 0),
    "event_type": "view",
}


def batch(numbers: list[int], batch_id: str) -> list[dict]:
    return [{**ALL_ROWS[i], "_c360_batch_id": batch_id, "_c360_record": i} for i in numbers]


def stage(project: Project, staged: list[dict]) -> None:
    write_stage(project, "clickstream", [dict(row) for row in staged])


def read_all(project: Project) -> dict[str, list[dict]]:
    catalog = open_catalog(project)
    tables = {}
    for name in INCREMENTAL:
        table = load_table(catalog, name)
        assert table is not None, name
        tables[name] = sorted(
            table.scan().to_arrow().to_pylist(), key=lambda row: tuple(map(str, row.values()))
        )
    return tables


def day_files(project: Project, name: str, day: date) -> set[str]:
    """The data files holding ``day`` in the current snapshot of ``name``."""
    table = load_table(open_catalog(project), name)
    assert table is not None
    return {task.file.file_path for task in table.scan().plan_files() if task.file.partition[0] == day}


def full_rebuild(tmp_path: Path, staged: list[dict]) -> dict[str, list[dict]]:
    """The daily KPIs built whole, in a project of their own, over the same stage rows."""
    directory = tmp_path / f"full-{len(staged)}"
    write_project(directory, '[lake]\npath = "lake"\n')
    project = load_project(directory)
    stage(project, staged)
    build(project, DAILY)
    return read_all(project)


def runs(result: BuildResult) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {run.model: (run.mode, run.partitions) for run in result.runs}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    directory = tmp_path / "daily"
    write_project(directory, '[lake]\npath = "lake"\n')
    return load_project(directory)


def test_each_batch_recomputes_only_the_days_it_can_change(project: Project, tmp_path: Path) -> None:
    monday = [i for i, event in enumerate(EVENTS) if event[2] < "2024-06-04"]
    tuesday = [i for i, event in enumerate(EVENTS) if i not in monday and i not in S2_AFTER_MIDNIGHT]
    staged = batch(monday, "20240603T000000000000-000001")
    stage(project, staged)
    first = build(project, DAILY)
    assert runs(first) == {name: ("full", ("2024-06-03",)) for name in INCREMENTAL}
    assert read_all(project) == full_rebuild(tmp_path, staged)

    # 2. Tuesday: Monday, recomputed as its neighbour, is unchanged and keeps its files
    monday_files = {name: day_files(project, name, MONDAY) for name in DAILY}
    tuesday_batch = batch(tuesday, "20240604T000000000000-000001")
    stage(project, tuesday_batch)
    staged += tuesday_batch
    second = build(project, DAILY)
    assert runs(second) == {name: ("incremental", ("2024-06-04",)) for name in INCREMENTAL}
    assert {name: day_files(project, name, MONDAY) for name in DAILY} == monday_files
    assert read_all(project) == full_rebuild(tmp_path, staged)

    # 3. s2 past midnight: the session started on Monday, so Monday changes, Tuesday does not
    tuesday_files = {name: day_files(project, name, TUESDAY) for name in DAILY}
    midnight = batch(S2_AFTER_MIDNIGHT, "20240604T000000000000-000002")
    stage(project, midnight)
    staged += midnight
    third = build(project, DAILY)
    assert runs(third)[EVENTS_TABLE] == ("incremental", ("2024-06-04",))  # the events' own day
    assert runs(third)[SESSIONS_TABLE] == ("incremental", ("2024-06-03",))  # their session's day
    assert runs(third)["analytics.kpi_unique_visitors_daily"] == ("incremental", ("2024-06-03",))
    assert runs(third)["analytics.kpi_revenue_daily"] == ("incremental", ())  # s2 bought nothing
    assert {name: day_files(project, name, TUESDAY) for name in DAILY} == tuesday_files
    assert read_all(project) == full_rebuild(tmp_path, staged)
    # every event is staged now: the golden values
    assert read_all(project)["analytics.kpi_unique_visitors_daily"] == rows(
        "event_date unique_users sessions events events_per_session",
        [(MONDAY, 2, 2, 10, 5.0), (TUESDAY, 3, 4, 12, 3.0)],
    )

    # 4. a late event for Monday, in a new session of a new user
    late = [{**LATE, "_c360_batch_id": "20240605T000000000000-000001", "_c360_record": 1}]
    stage(project, late)
    staged += late
    fourth = build(project, DAILY)
    assert runs(fourth)["analytics.kpi_unique_visitors_daily"] == ("incremental", ("2024-06-03",))
    assert runs(fourth)["analytics.kpi_funnel_daily"] == ("incremental", ("2024-06-03",))
    assert {name: day_files(project, name, TUESDAY) for name in DAILY} == tuesday_files
    everything = read_all(project)
    assert everything == full_rebuild(tmp_path, staged)
    visitors = everything["analytics.kpi_unique_visitors_daily"]
    assert [(row["event_date"], row["unique_users"], row["sessions"]) for row in visitors] == [
        (MONDAY, 3, 3),
        (TUESDAY, 3, 4),
    ]


def test_no_new_batch_changes_nothing_and_full_refresh_rebuilds(project: Project) -> None:
    stage(project, batch(list(range(len(EVENTS))), "20240603T000000000000-000001"))
    build(project, DAILY)
    catalog = open_catalog(project)
    snapshots = {name: load_table(catalog, name).current_snapshot().snapshot_id for name in DAILY}
    before = read_all(project)

    again = build(project, DAILY)
    assert runs(again) == {name: ("up to date", ()) for name in INCREMENTAL}
    assert all(
        run.rows == 0 and run.snapshot_id == snapshots[run.model] for run in again.runs if run.model in DAILY
    )

    refreshed = build(project, DAILY, full_refresh=True)
    assert runs(refreshed) == {name: ("full", ()) for name in INCREMENTAL}  # () : replaced whole
    assert read_all(project) == before
    revenue = read_all(project)["analytics.kpi_revenue_daily"]
    assert [(row["event_date"], row["revenue"]) for row in revenue] == [
        (MONDAY, Decimal("100.00")),
        (TUESDAY, Decimal("20.00")),
    ]


def test_a_change_to_the_sql_of_an_upstream_model_rebuilds_whole(project: Project) -> None:
    stage(project, batch([0, 1, 2], "20240603T000000000000-000001"))
    build(project, DAILY)
    # int_click_sessions, read by every daily KPI, overridden by the project with one more comment
    shipped = Path(__file__).resolve().parents[1] / "src" / "c360" / "models" / "int_click_sessions.sql"
    (project.root / "models").mkdir(exist_ok=True)
    (project.root / "models" / "int_click_sessions.sql").write_text(
        shipped.read_text(encoding="utf-8") + "-- reviewed\n", encoding="utf-8"
    )
    stage(project, batch([11, 12], "20240604T000000000000-000001"))
    changed = runs(build(project, DAILY))
    assert changed[EVENTS_TABLE] == ("incremental", ("2024-06-04",))  # upstream of the change
    assert {name: changed[name] for name in [SESSIONS_TABLE, *DAILY]} == {
        name: ("full", ()) for name in [SESSIONS_TABLE, *DAILY]
    }
    assert [row["event_date"] for row in read_all(project)["analytics.kpi_revenue_daily"]] == [
        MONDAY,
        TUESDAY,
    ]


WEIGHTED = """-- model: analytics.kpi_weighted_daily
-- description: Events per day times the one weight of stage.weights, read whole.
-- grain: event_date
-- incremental: event_date from stage.clickstream.event_time within 1 day
SELECT
    CAST(c.event_time AS DATE) AS event_date,
    CAST(count(*) * max(w.weight) AS BIGINT) AS weighted
FROM stage.clickstream AS c
CROSS JOIN stage.weights AS w
GROUP BY CAST(c.event_time AS DATE)
"""


def test_a_new_snapshot_of_an_input_read_whole_rebuilds_whole(project: Project) -> None:
    (project.root / "models").mkdir(exist_ok=True)
    (project.root / "models" / "kpi_weighted_daily.sql").write_text(WEIGHTED, encoding="utf-8")
    schema = pa.schema([("weight", pa.int64())])
    weights = ensure_table(open_catalog(project), "stage.weights", schema)
    append_rows(weights, pa.table({"weight": [2]}, schema=schema))
    stage(project, batch([0, 1], "20240603T000000000000-000001"))
    build(project, ["analytics.kpi_weighted_daily"])
    stage(project, batch([11], "20240604T000000000000-000001"))
    assert runs(build(project, ["analytics.kpi_weighted_daily"])) == {
        "analytics.kpi_weighted_daily": ("incremental", ("2024-06-04",))
    }
    weights.overwrite(pa.table({"weight": [3]}, schema=schema))
    assert runs(build(project, ["analytics.kpi_weighted_daily"])) == {
        "analytics.kpi_weighted_daily": ("full", ())
    }
    table = load_table(open_catalog(project), "analytics.kpi_weighted_daily")
    assert sorted((row["event_date"], row["weighted"]) for row in table.scan().to_arrow().to_pylist()) == [
        (MONDAY, 6),
        (TUESDAY, 3),
    ]
