"""Landing in raw per connector kind: rows/s, MB/s and peak RSS, beside the parse floor.

The floor is DuckDB alone reading the same file (``count(*)`` over ``read_csv``/``read_json``),
measured in the same run: c360's figure is judged by its ratio to it, not by absolute seconds on a
noisy shared machine.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import Figure, measure, preload_c360, timed

CSV_COLUMNS = 8


def make_delimited(path: Path, rows: int) -> None:
    import duckdb

    duckdb.sql(
        f"COPY (SELECT range AS trans_id, range % 50000 AS account_id, "
        f"DATE '2024-01-01' + CAST(range % 365 AS INTEGER) AS date, "
        f"CASE WHEN range % 3 = 0 THEN 'debit' ELSE 'credit' END AS type, "
        f"['CCW','CCK','CAB','WCA','RAB'][1 + range % 5] AS operation, "
        f"(range * 7) % 10000 AS amount, (range * 13) % 100000 AS balance, "
        f"'note ' || (range % 1000) AS note FROM range({rows})) TO '{path}' (HEADER false)"
    )


def make_fixed_width(path: Path, rows: int) -> None:
    import duckdb

    duckdb.sql(
        f"COPY (SELECT lpad(CAST(5000000000000000 + range AS VARCHAR), 16, '0') || "
        f"lpad(CAST(range % 99999 AS VARCHAR), 10, ' ') || "
        f"rpad(['junior','classic','gold'][1 + range % 3], 8, ' ') "
        f"|| strftime(TIMESTAMP '2023-01-01' + to_seconds(range), '%Y-%m-%dT%H:%M:%S') AS line "
        f"FROM range({rows})) TO '{path}' (HEADER false, QUOTE '', DELIMITER '\\0')"
    )


FIXED_LAYOUT = [("card_id", 1, 16), ("disp_id", 17, 10), ("type", 27, 8), ("issued_datetime", 35, 19)]


def make_json(path: Path, rows: int) -> None:
    import duckdb

    duckdb.sql(
        f"COPY (SELECT CAST(range AS VARCHAR) AS fullVisitorId, range AS visitId, "
        f"{{'visits': 1, 'hits': range % 20, 'pageviews': range % 15, 'timeOnSite': range % 900}} AS totals, "
        f"{{'browser': 'Chrome', 'isMobile': range % 2 = 0, 'os': 'Windows'}} AS device, "
        f"{{'country': 'Canada', 'city': 'not available in demo dataset'}} AS geoNetwork, "
        f"[{{'hitNumber': 1, 'page': {{'pagePath': '/home'}}}}, "
        f"{{'hitNumber': 2, 'page': {{'pagePath': '/cart'}}}}] "
        f"AS hits FROM range({rows})) TO '{path}' (FORMAT json)"
    )


def config_for(kind: str, data: Path) -> str:
    if kind == "delimited":
        names = ", ".join(f'"c{i}"' for i in range(CSV_COLUMNS))
        return f'[sources.s]\nkind = "delimited"\npath = "{data}"\nheader = false\ncolumns = [{names}]\n'
    if kind == "fixed_width":
        layout = ", ".join(f'{{ name = "{n}", start = {s}, width = {w} }}' for n, s, w in FIXED_LAYOUT)
        return f'[sources.s]\nkind = "fixed_width"\npath = "{data}"\nlayout = [{layout}]\n'
    return f'[sources.s]\nkind = "json_lines"\npath = "{data}"\n'


def land(kind: str, data: str) -> tuple[float, int]:
    preload_c360()
    from c360.config import load_project
    from c360.raw.ingest import ingest

    with tempfile.TemporaryDirectory(prefix="c360-bench-") as directory:
        (Path(directory) / "c360.toml").write_text(config_for(kind, Path(data)))
        project = load_project(directory)
        return timed(lambda: ingest(project).sources[0].rows)


def duckdb_floor(kind: str, data: str) -> tuple[float, int]:
    import duckdb

    con = duckdb.connect(config={"threads": 2})
    reader = "read_json" if kind == "json_lines" else "read_csv"
    options = ", all_varchar = true, header = false" if kind == "delimited" else ""
    if kind == "fixed_width":
        options = ", columns = {'line': 'VARCHAR'}, delim = '\\0', quote = '', header = false"
    return timed(lambda: con.execute(f"SELECT count(*) FROM {reader}('{data}'{options})").fetchone()[0])


MAKERS = {"delimited": make_delimited, "fixed_width": make_fixed_width, "json_lines": make_json}


def run_file_kind(kind: str, rows: int, workdir: Path, repeat: int) -> list[Figure]:
    data = workdir / f"{kind}.{'json' if kind == 'json_lines' else 'txt'}"
    MAKERS[kind](data, rows)
    size_mb = data.stat().st_size / 1e6
    seconds, peak, landed = measure(land, kind, str(data), repeat=repeat)
    if landed != rows:
        raise AssertionError(f"{kind}: landed {landed} rows of {rows}")
    floor_seconds, _, _ = measure(duckdb_floor, kind, str(data), repeat=repeat)
    size = f"{rows:,} rows, {size_mb:,.0f} MB"
    return [
        Figure(f"land.{kind}", size, "rows_per_s", rows / seconds, "rows/s"),
        Figure(f"land.{kind}", size, "mb_per_s", size_mb / seconds, "MB/s"),
        Figure(f"land.{kind}", size, "seconds", seconds, "s"),
        Figure(f"land.{kind}", size, "peak_rss", peak / 2**20, "MiB"),
        Figure(
            f"land.{kind}", size, "floor_seconds", floor_seconds, "s", "DuckDB count(*) over the same file"
        ),
        Figure(f"land.{kind}", size, "ratio_to_floor", seconds / floor_seconds, "x"),
    ]
