"""Landing a ``sql_database`` source in raw: rows/s, MB/s and peak RSS, beside the ADBC floor.

The ``transactions`` table of the core-banking simulator is filled with ``rows`` rows in the local
PostgreSQL (a table of its own in database ``test``, dropped afterwards) and in a SQLite file; the
writer's own rate is a figure too. The floor is ADBC alone reading the same table into Arrow
(``fetch_arrow_table`` of ``SELECT *``), measured in the same run: c360's figure is judged by its
ratio to it, not by absolute seconds on a noisy shared machine.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from benchmarks.common import Figure, measure, preload_c360, timed

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
ACCOUNTS = 10_000
SEED = 7
TARGET_ROWS_PER_S = 1_000_000
# What the connector asks of the SQLite driver (c360.sources.sql_database.SQLITE_BATCH_ROWS), so
# the floor reads in batches as large as c360's and the ratio is not flattered.
SQLITE_BATCH_ROWS = 65_536


def _drop(url: str, table: str) -> None:
    if url.startswith("sqlite:"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import adbc_driver_postgresql.dbapi as pg_dbapi

    with pg_dbapi.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "{table}"')


def _settle(url: str, table: str) -> None:
    """VACUUM ANALYZE a fresh PostgreSQL table, so that setting hint bits on its first read is not
    charged to whichever of c360 or the floor happens to read it first."""
    if url.startswith("sqlite:"):
        return
    import adbc_driver_postgresql.dbapi as pg_dbapi

    with pg_dbapi.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f'VACUUM (ANALYZE) "{table}"')


def _import_driver(url: str) -> None:
    """The ADBC driver of ``url``, imported before the timing (c360 imports it lazily)."""
    if url.startswith("sqlite:"):
        import adbc_driver_sqlite.dbapi  # noqa: F401
    else:
        import adbc_driver_postgresql.dbapi  # noqa: F401


def fill(url: str, table: str, rows: int) -> tuple[float, int]:
    """Write ``rows`` transactions into ``table`` (dropped beforehand, outside the timing)."""
    import numpy as np

    from c360.simulate.transactions_db import write_transactions

    _import_driver(url)
    accounts = np.arange(1, ACCOUNTS + 1)
    return timed(lambda: write_transactions(url, accounts, rows, SEED, table=table))


def config_for(url: str, table: str) -> str:
    return (
        f'[sources.s]\nkind = "sql_database"\nurl = "{url}"\ntable = "{table}"\n'
        f'watermark = "trans_id"\nbatch_rows = 1000000\n'
    )


def land(url: str, table: str) -> tuple[float, tuple[int, int]]:
    preload_c360()
    from c360.config import load_project
    from c360.raw.ingest import ingest

    _import_driver(url)
    with tempfile.TemporaryDirectory(prefix="c360-bench-") as directory:
        (Path(directory) / "c360.toml").write_text(config_for(url, table))
        project = load_project(directory)
        seconds, summary = timed(lambda: ingest(project).sources[0])
        return seconds, (summary.rows, summary.bytes)


def adbc_floor(url: str, table: str) -> tuple[float, int]:
    """Connect, ``SELECT *`` and ``fetch_arrow_table``: the least c360 has to do."""
    import adbc_driver_postgresql.dbapi as pg_dbapi
    import adbc_driver_sqlite.dbapi as sqlite_dbapi

    def read() -> int:
        sqlite = url.startswith("sqlite:")
        conn = sqlite_dbapi.connect(url.removeprefix("sqlite:///")) if sqlite else pg_dbapi.connect(url)
        with conn, conn.cursor() as cursor:
            if sqlite:
                cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(SQLITE_BATCH_ROWS)})
            cursor.execute(f'SELECT * FROM "{table}"')
            return cursor.fetch_arrow_table().num_rows

    return timed(read)


def _one_database(kind: str, url: str, table: str, rows: int, repeat: int) -> list[Figure]:
    # Each run of the writer starts from an empty table; the last one leaves the table to land.
    write_seconds, write_peak, written = _measure_writer(url, table, rows, repeat)
    if written != rows:
        raise AssertionError(f"{kind}: wrote {written} rows of {rows}")
    _settle(url, table)
    seconds, peak, (landed, landed_bytes) = measure(land, url, table, repeat=repeat)
    if landed != rows:
        raise AssertionError(f"{kind}: landed {landed} rows of {rows}")
    floor_seconds, _, floor_rows = measure(adbc_floor, url, table, repeat=repeat)
    if floor_rows != rows:
        raise AssertionError(f"{kind}: the floor read {floor_rows} rows of {rows}")
    size_mb = landed_bytes / 1e6
    size = f"{rows:,} rows, {size_mb:,.0f} MB Parquet"
    name = f"land.sql_database.{kind}"
    rate = rows / seconds
    verdict = "met" if rate >= TARGET_ROWS_PER_S else "MISSED"
    return [
        Figure(
            f"write.transactions.{kind}",
            f"{rows:,} rows",
            "rows_per_s",
            rows / write_seconds,
            "rows/s",
            "write_transactions (ADBC bulk ingest) into an empty table",
        ),
        Figure(f"write.transactions.{kind}", f"{rows:,} rows", "seconds", write_seconds, "s"),
        Figure(f"write.transactions.{kind}", f"{rows:,} rows", "peak_rss", write_peak / 2**20, "MiB"),
        Figure(name, size, "rows_per_s", rate, "rows/s", f"target ≥ {TARGET_ROWS_PER_S:,} rows/s: {verdict}"),
        Figure(name, size, "mb_per_s", size_mb / seconds, "MB/s", "landed Parquet bytes / s"),
        Figure(name, size, "seconds", seconds, "s"),
        Figure(name, size, "peak_rss", peak / 2**20, "MiB"),
        Figure(name, size, "floor_seconds", floor_seconds, "s", "ADBC fetch_arrow_table of SELECT * alone"),
        Figure(name, size, "ratio_to_floor", seconds / floor_seconds, "x"),
    ]


def _measure_writer(url: str, table: str, rows: int, repeat: int) -> tuple[float, int, int]:
    """Median seconds of the writer alone: the drop before each run happens outside the timing."""
    import statistics

    times, peaks, written = [], [], 0
    for _ in range(repeat):
        _drop(url, table)
        seconds, peak, written = measure(fill, url, table, rows, repeat=1)
        times.append(seconds)
        peaks.append(peak)
    return statistics.median(times), max(peaks), written


def run_sql(rows: int, work: Path, repeat: int) -> list[Figure]:
    table = f"c360_bench_transactions_{uuid.uuid4().hex[:12]}"
    figures: list[Figure] = []
    try:
        figures += _one_database("postgresql", POSTGRES_URL, table, rows, repeat)
    finally:
        _drop(POSTGRES_URL, table)
    sqlite_url = f"sqlite:///{(work / 'transactions.db').resolve()}"
    try:
        figures += _one_database("sqlite", sqlite_url, table, rows, repeat)
    finally:
        _drop(sqlite_url, table)
    return figures
