"""The data tests of a model header, run on the model's result before it may replace the table.

They run in DuckDB over the Parquet files the result was written to, before those files are
committed, so a model whose result fails keeps its previous good table: the failure costs a
rerun, never a bad table downstream. Nothing is loaded into Python but counts and examples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from c360.engine.errors import ModelError, location
from c360.errors import C360Error
from c360.modeling.header import DataTest, Header

if TYPE_CHECKING:
    import duckdb

EXAMPLES = 5


@dataclass(frozen=True)
class TestFailure:
    test: DataTest
    problem: str
    examples: tuple[str, ...]

    def describe(self, path: Path) -> str:
        shown = f": {', '.join(self.examples)}" if self.examples else ""
        return f"{location(path, self.test.line)}: {self.test.text}: {self.problem}{shown}"


class DataTestError(C360Error):
    """A model's result failed its data tests; its table was left as it was."""

    def __init__(self, model: str, path: Path, failures: list[TestFailure], committed: list[str]) -> None:
        self.model = model
        self.failures = failures
        lines = "".join(f"\n  {failure.describe(path)}" for failure in failures)
        kept = (
            f"; models built before it in this run were committed: {', '.join(committed)}"
            if committed
            else ""
        )
        super().__init__(
            f"{model} failed {len(failures)} data test{'s' if len(failures) > 1 else ''}, so its table "
            f"was left as it was{kept}:{lines}",
            hint=f"fix the model ({path}) or its inputs, then build again",
        )


def check_declared_columns(columns: list[str], header: Header, path: Path) -> None:
    """Every column the header names must exist in the result: a stale header is a bug too."""
    present = set(columns)
    declared: list[tuple[str, int, str]] = [
        (name, header.line_of.get("grain", 0), "grain") for name in header.grain
    ]
    if header.partition:
        key = "incremental" if header.incremental is not None else "partition"
        declared.append((header.partition, header.line_of.get(key, 0), key))
    declared += [(name, test.line, test.text) for test in header.tests for name in test.columns]
    declared += [(doc.name, doc.line, f"column {doc.name}") for doc in header.columns.values()]
    for name, line, where in declared:
        if name not in present:
            raise ModelError(
                path,
                line or None,
                f"{where} names column '{name}', which the SELECT does not return",
                hint=f"the SELECT returns: {', '.join(columns)}",
            )


def run_data_tests(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    rows: int,
    header: Header,
    row_count: Callable[[str], int],
) -> list[TestFailure]:
    """The failures of ``header``'s tests on the rows of ``relation`` (a DuckDB table expression).

    ``rows`` is what the row-count tests compare: the result's rows, plus, for an incremental
    build, the rows the table keeps; ``row_count`` counts another table's rows.
    """
    failures = []
    for test in header.tests:
        failure = _run(con, test, relation, rows, header.grain, row_count)
        if failure is not None:
            failures.append(failure)
    return failures


def _run(
    con: duckdb.DuckDBPyConnection,
    test: DataTest,
    relation: str,
    rows: int,
    grain: tuple[str, ...],
    row_count: Callable[[str], int],
) -> TestFailure | None:
    if test.kind == "not_null":
        return _not_null(con, test, relation, grain)
    if test.kind == "unique":
        return _unique(con, test, relation)
    if test.kind == "accepted_values":
        return _accepted_values(con, test, relation)
    if test.kind == "row_count_equals":
        assert test.table is not None
        expected = row_count(test.table)
        if rows != expected:
            return TestFailure(test, f"{rows} rows, but {test.table} has {expected}", ())
        return None
    assert test.minimum is not None
    if rows < test.minimum:
        return TestFailure(test, f"{rows} rows, fewer than {test.minimum}", ())
    return None


def _show(value: object) -> str:
    if value is None:
        return "NULL"
    return f"'{value}'" if isinstance(value, str) else str(value)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _not_null(
    con: duckdb.DuckDBPyConnection, test: DataTest, relation: str, grain: tuple[str, ...]
) -> TestFailure | None:
    counts = ", ".join(f"count(*) FILTER (WHERE {_quote(name)} IS NULL)" for name in test.columns)
    nulls = dict(zip(test.columns, con.execute(f"SELECT {counts} FROM {relation}").fetchone(), strict=True))
    problems = [f"{count} null {name}" for name, count in nulls.items() if count]
    if not problems:
        return None
    keys = [name for name in grain if name not in test.columns]
    examples: list[str] = []
    listed = ", ".join(_quote(key) for key in keys)
    for name, count in nulls.items():  # each null column's first rows by the grain
        if not count or not keys or len(examples) >= EXAMPLES:
            continue
        found = con.execute(
            f"SELECT {listed} FROM {relation} WHERE {_quote(name)} IS NULL ORDER BY {listed} LIMIT {EXAMPLES}"
        ).fetchall()
        examples += [
            "(" + ", ".join(f"{k}={_show(v)}" for k, v in zip(keys, row, strict=True)) + ")" for row in found
        ]
    return TestFailure(test, "; ".join(problems), tuple(examples[:EXAMPLES]))


def _unique(con: duckdb.DuckDBPyConnection, test: DataTest, relation: str) -> TestFailure | None:
    listed = ", ".join(_quote(name) for name in test.columns)
    present = " AND ".join(f"{_quote(name)} IS NOT NULL" for name in test.columns)  # nulls: not_null's
    found = con.execute(
        f"""
        WITH duplicated AS (
            SELECT {listed}, count(*) AS times FROM {relation} WHERE {present}
            GROUP BY {listed} HAVING count(*) > 1
        )
        SELECT count(*) OVER (), sum(times) OVER () - count(*) OVER (), * FROM duplicated
        ORDER BY times DESC, {listed} LIMIT {EXAMPLES}
        """
    ).fetchall()
    if not found:
        return None
    repeated, extra = found[0][0], found[0][1]
    examples = []
    for row in found:
        key = ", ".join(_show(v) for v in row[2:-1])
        examples.append(f"{key if len(test.columns) == 1 else f'({key})'} ×{row[-1]}")
    return TestFailure(test, f"{repeated} values repeated ({extra} extra rows)", tuple(examples))


def _accepted_values(con: duckdb.DuckDBPyConnection, test: DataTest, relation: str) -> TestFailure | None:
    allowed = ", ".join("'" + value.replace("'", "''") + "'" for value in test.values)
    found = con.execute(
        f"""
        WITH texts AS (SELECT CAST({_quote(test.columns[0])} AS VARCHAR) AS value FROM {relation})
        SELECT sum(count(*)) OVER (), value, count(*) AS times FROM texts
        WHERE value IS NOT NULL AND value NOT IN ({allowed})
        GROUP BY value ORDER BY times DESC, value LIMIT {EXAMPLES}
        """
    ).fetchall()
    if not found:
        return None
    examples = tuple(f"{_show(value)} ×{times}" for _, value, times in found)
    return TestFailure(test, f"{found[0][0]} rows with other values", examples)
