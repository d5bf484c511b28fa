"""Benchmarks of c360: `python benchmarks/run.py [NAME ...] [--rows N] [--customers N ...]`.

Prints a table and appends the figures as JSON lines under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Figure, machine_note, save

FILE_KINDS = ("delimited", "fixed_width", "json_lines")
ALL = (*FILE_KINDS, "sql_database", "rest_api", "simulate", "build", "stream", "serve", "kpi", "identity")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "names", nargs="*", choices=[[], *ALL], help=f"benchmarks to run (default: all of {ALL})"
    )
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows per landing benchmark")
    parser.add_argument(
        "--json-rows", type=int, default=500_000, help="records for the nested JSON benchmark"
    )
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--events", type=int, nargs="+", default=[10_000_000], help="click events for kpi")
    parser.add_argument(
        "--person-records", type=int, nargs="+", default=[100_000, 1_000_000], help="sizes for identity"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    args = parser.parse_args()
    names = args.names or list(ALL)
    unknown = sorted(set(names) - set(ALL))
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose among {', '.join(ALL)}")

    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="c360-bench-") as scratch:
        work = Path(scratch)
        for name in names:
            print(f"running {name} ...", file=sys.stderr)
            if name in FILE_KINDS:
                from benchmarks.landing import run_file_kind

                rows = args.json_rows if name == "json_lines" else args.rows
                figures += run_file_kind(name, rows, work, args.repeat)
            elif name == "sql_database":
                from benchmarks.sql_landing import run_sql

                figures += run_sql(args.rows, work, args.repeat)
            elif name == "rest_api":
                from benchmarks.rest_landing import run_rest

                figures += run_rest(work, args.repeat)
            elif name == "simulate":
                from benchmarks.simulation import run_simulation

                figures += run_simulation(args.customers, work, args.repeat)
            elif name == "build":
                from benchmarks.build import run_build

                figures += run_build(args.customers, work, args.repeat)
            elif name == "stream":
                from benchmarks.stream import run_stream

                figures += run_stream(work, args.repeat)
            elif name == "serve":
                from benchmarks.serve import run_serve

                figures += run_serve(args.customers[0], work, args.repeat)
            elif name == "kpi":
                from benchmarks.kpi import run_kpi

                figures += run_kpi(args.events, work, args.repeat)
            elif name == "identity":
                from benchmarks.identity import run_identity

                figures += run_identity(args.person_records, work, args.repeat)
    print_table(figures)
    print(f"saved to {save(figures)}")


def print_table(figures: list[Figure]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"c360 benchmarks ({machine_note()}; medians)", title_justify="left")
    for column in ("benchmark", "size", "metric", "value", "unit", "note"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for f in figures:
        table.add_row(f.benchmark, f.size, f.metric, f"{f.value:,.2f}", f.unit, f.note)
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
