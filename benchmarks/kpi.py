"""The e-commerce KPI models over N click events: wall time and peak RSS, beside a GROUP BY floor.

Set-up, not timed: DuckDB generates N synthetic events straight into one Parquet file (about 10
events per session, 20 per user, 30 days, 10,000 products in 200 categories and 1,000 brands; 85 %
views, 8 % carts, 3 % removals, 4 % purchases; 1 % of events received twice, 2 % of sessions
without a user_session), which is committed to a temporary project's stage.clickstream with
``commit_parquet``. Then, in a fresh process per run, with the analytics zone emptied first:
``build(project, KPI_MODELS)``, which also builds int_click_events and int_click_sessions.

The daily run: after those full builds, each run stages one more day of events (N / 30, the
day after the last one staged, not timed) as a new batch and times the build that follows, in
which the incremental models recompute only that day and its neighbours.

The floor is one DuckDB GROUP BY over the same Parquet file (events, distinct users and sessions,
revenue per day and event type): what any KPI costs at least, reading every event once.

    from benchmarks.kpi import run_kpi
    figures = run_kpi([10_000_000], Path("/tmp"), repeat=3)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import Figure, measure, preload_c360, timed

KPI_MODELS = [
    "analytics.kpi_unique_visitors_daily",
    "analytics.kpi_funnel_daily",
    "analytics.kpi_cart_abandonment_daily",
    "analytics.kpi_top_categories_hourly",
    "analytics.kpi_top_categories_weekday",
    "analytics.kpi_brands_needing_marketing",
    "analytics.kpi_revenue_daily",
]
TARGET_SECONDS = 60.0
TARGET_EVENTS = 50_000_000
BATCH_ID = "20240601T000000000000-000001"
DAYS = 30


def make_events(
    path: Path,
    events: int,
    *,
    first: int = 0,
    start: str = "2024-05-01",
    days: int = DAYS,
    batch: str = BATCH_ID,
) -> None:
    """N click events in the stage.clickstream layout (contract columns, then the framework's).

    Records ``first`` to ``first + events`` (so that another batch has sessions of its own), over
    ``days`` days from ``start``.
    """
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(
        f"""
        COPY (
            WITH source AS (
                SELECT
                    range AS record,
                    CASE WHEN range % 100 = 99 THEN range - 1 ELSE range END AS i
                FROM range({first}, {first + events})
            ),
            drawn AS (
                SELECT
                    record,
                    i,
                    i // 10 AS s,
                    (i * 2654435761) % 100 AS kind,
                    (i * 40503 + (i // 10) * 7919) % 10000 AS product
                FROM source
            )
            SELECT
                CAST(DATE '{start}' AS TIMESTAMP)
                    + to_seconds(CAST((s * 7919) % {days * 86400} + (i % 10) * 45 AS BIGINT)) AS event_time,
                CASE
                    WHEN kind < 85 THEN 'view'
                    WHEN kind < 93 THEN 'cart'
                    WHEN kind < 96 THEN 'remove_from_cart'
                    ELSE 'purchase'
                END AS event_type,
                CAST(product AS BIGINT) AS product_id,
                CAST(2053013552000000000 + product % 200 AS BIGINT) AS category_id,
                CASE WHEN product % 200 = 7 THEN NULL ELSE 'category.' || (product % 200) END
                    AS category_code,
                CASE WHEN product % 97 = 3 THEN NULL ELSE 'brand' || (product % 1000) END AS brand,
                CAST(product % 1000 + 0.99 AS DECIMAL(12, 2)) AS price,
                CAST(s % greatest({events} // 20, 1) AS BIGINT) AS user_id,
                CASE WHEN s % 50 = 0 THEN NULL ELSE 'session-' || s END AS user_session,
                '10.' || (s % 250) || '.' || (s % 241) || '.' || (s % 239) AS ip,
                'Mozilla/5.0 (agent ' || (s % 40) || ')' AS user_agent,
                '{batch}' AS _c360_batch_id,
                CAST(record AS BIGINT) AS _c360_record
            FROM drawn
        ) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
        """
    )
    con.close()


def prepare(events: int, parent: Path) -> tuple[Path, Path]:
    """A project whose stage.clickstream holds the N events; (project directory, Parquet file)."""
    import pyarrow.parquet as pq

    from c360.config import load_project
    from c360.lake.catalog import open_catalog
    from c360.lake.tables import commit_parquet, ensure_table

    directory = parent / f"kpi-{events}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "c360.toml").write_text('[lake]\npath = "lake"\n', encoding="utf-8")
    data = directory / "clickstream.parquet"
    make_events(data, events)
    schema = pq.read_schema(data)
    table = ensure_table(open_catalog(load_project(directory)), "stage.clickstream", schema)
    commit_parquet(table, [data], schema, {"c360.benchmark": "kpi"})
    return directory, data


def build_kpis(project_dir: str) -> tuple[float, int]:
    """Seconds to build the KPI models (and the two click intermediates); extra: rows written."""
    preload_c360()
    from c360.config import load_project
    from c360.lake.catalog import open_catalog
    from c360.modeling import build

    project = load_project(project_dir)
    catalog = open_catalog(project)
    for identifier in catalog.list_tables("analytics"):
        catalog.purge_table(identifier)
    seconds, result = timed(lambda: build(project, KPI_MODELS))
    return seconds, result.rows


def build_daily(project_dir: str, events: int) -> tuple[float, int]:
    """Stage the ``events`` of the day after the last staged one (not timed); time the build."""
    preload_c360()
    from datetime import date, timedelta

    import pyarrow.parquet as pq

    from c360.config import load_project
    from c360.lake.catalog import open_catalog
    from c360.lake.tables import commit_parquet, load_table
    from c360.modeling import build

    project = load_project(project_dir)
    stage = load_table(open_catalog(project), "stage.clickstream")
    assert stage is not None
    batches = len(list(stage.scan().plan_files()))  # the first file holds the 30 days, then one a day
    day = date(2024, 5, 1) + timedelta(days=DAYS - 1 + batches)
    data = Path(project_dir) / f"day-{day}.parquet"
    make_events(
        data,
        events,
        first=10**8 * batches,
        start=day.isoformat(),
        days=1,
        batch=f"{day:%Y%m%d}T000000000000-000001",
    )
    commit_parquet(stage, [data], pq.read_schema(data), {"c360.benchmark": "kpi daily"})
    seconds, result = timed(lambda: build(project, KPI_MODELS))
    return seconds, result.rows


def duckdb_floor(data: str) -> tuple[float, int]:
    import duckdb

    con = duckdb.connect()
    query = f"""
        SELECT CAST(event_time AS DATE) AS event_date, event_type, count(*) AS events,
               count(DISTINCT user_id) AS users, count(DISTINCT user_session) AS sessions,
               sum(price) AS value
        FROM read_parquet('{data}')
        GROUP BY CAST(event_time AS DATE), event_type
    """
    return timed(lambda: len(con.execute(query).fetchall()))


def run_kpi(events: list[int], work: Path, repeat: int) -> list[Figure]:
    figures: list[Figure] = []
    for size in events:
        with tempfile.TemporaryDirectory(dir=work, prefix="c360-kpi-") as parent:
            directory, data = prepare(size, Path(parent))
            seconds, peak, rows = measure(build_kpis, str(directory), repeat=repeat)
            floor_seconds, _, _ = measure(duckdb_floor, str(data), repeat=repeat)
            daily_seconds, daily_peak, daily_rows = measure(
                build_daily, str(directory), size // DAYS, repeat=repeat
            )
        label = f"{size:,} events"
        verdict = ""
        if size == TARGET_EVENTS:
            verdict = f"target ≤ {TARGET_SECONDS:.0f} s: {'met' if seconds <= TARGET_SECONDS else 'MISSED'}"
        figures += [
            Figure("kpi.build", label, "seconds", seconds, "s", verdict),
            Figure("kpi.build", label, "events_per_s", size / seconds, "events/s", f"{rows:,} model rows"),
            Figure("kpi.build", label, "peak_rss", peak / 2**20, "MiB"),
            Figure(
                "kpi.build", label, "floor_seconds", floor_seconds, "s", "a DuckDB GROUP BY over the Parquet"
            ),
            Figure("kpi.build", label, "ratio_to_floor", seconds / floor_seconds, "x"),
            Figure(
                "kpi.daily",
                label,
                "seconds",
                daily_seconds,
                "s",
                f"one more day of {size // DAYS:,} events; {daily_rows:,} model rows written",
            ),
            Figure("kpi.daily", label, "peak_rss", daily_peak / 2**20, "MiB"),
            Figure("kpi.daily", label, "ratio_to_full_build", daily_seconds / seconds, "x"),
        ]
    return figures
