"""The data tests of a model header, run on the model's result before it may replace the table.

They run on the Arrow result in memory, not on the committed table, so a model whose result
fails keeps its previous good table: the failure costs a rerun, never a bad table downstream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from c360.engine.errors import ModelError, location
from c360.errors import C360Error
from c360.modeling.header import DataTest, Header

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


def check_declared_columns(result: pa.Table, header: Header, path: Path) -> None:
    """Every column the header names must exist in the result: a stale header is a bug too."""
    present = set(result.column_names)
    declared: list[tuple[str, int, str]] = [
        (name, header.line_of.get("grain", 0), "grain") for name in header.grain
    ]
    if header.partition:
        declared.append((header.partition, header.line_of.get("partition", 0), "partition"))
    declared += [(name, test.line, test.text) for test in header.tests for name in test.columns]
    declared += [(doc.name, doc.line, f"column {doc.name}") for doc in header.columns.values()]
    for name, line, where in declared:
        if name not in present:
            raise ModelError(
                path,
                line or None,
                f"{where} names column '{name}', which the SELECT does not return",
                hint=f"the SELECT returns: {', '.join(result.column_names)}",
            )


def run_data_tests(result: pa.Table, header: Header, row_count: Callable[[str], int]) -> list[TestFailure]:
    """The failures of ``header``'s tests on ``result``; ``row_count`` counts another table's rows."""
    failures = []
    for test in header.tests:
        failure = _run(test, result, header.grain, row_count)
        if failure is not None:
            failures.append(failure)
    return failures


def _run(
    test: DataTest, result: pa.Table, grain: tuple[str, ...], row_count: Callable[[str], int]
) -> TestFailure | None:
    if test.kind == "not_null":
        return _not_null(test, result, grain)
    if test.kind == "unique":
        return _unique(test, result)
    if test.kind == "accepted_values":
        return _accepted_values(test, result)
    if test.kind == "row_count_equals":
        assert test.table is not None
        expected = row_count(test.table)
        if result.num_rows != expected:
            return TestFailure(test, f"{result.num_rows} rows, but {test.table} has {expected}", ())
        return None
    assert test.minimum is not None
    if result.num_rows < test.minimum:
        return TestFailure(test, f"{result.num_rows} rows, fewer than {test.minimum}", ())
    return None


def _show(value: object) -> str:
    if value is None:
        return "NULL"
    return f"'{value}'" if isinstance(value, str) else str(value)


def _not_null(test: DataTest, result: pa.Table, grain: tuple[str, ...]) -> TestFailure | None:
    problems = []
    examples: list[str] = []
    keys = [name for name in grain if name not in test.columns]
    for name in test.columns:
        nulls = pc.is_null(result[name])
        count = pc.sum(nulls).as_py() or 0
        if not count:
            continue
        problems.append(f"{count} null {name}")
        offending = result.filter(nulls)
        for row in offending.select(keys).slice(0, EXAMPLES).to_pylist() if keys else []:
            examples.append("(" + ", ".join(f"{k}={_show(v)}" for k, v in row.items()) + ")")
    if not problems:
        return None
    return TestFailure(test, "; ".join(problems), tuple(examples[:EXAMPLES]))


def _unique(test: DataTest, result: pa.Table) -> TestFailure | None:
    keys = result.select(list(test.columns))
    present = keys.drop_null()  # like SQL's UNIQUE: nulls are not_null's business
    counts = present.group_by(list(test.columns)).aggregate([([], "count_all")])
    duplicated = counts.filter(pc.greater(counts["count_all"], 1))
    if duplicated.num_rows == 0:
        return None
    duplicated = duplicated.sort_by([("count_all", "descending")] + [(c, "ascending") for c in test.columns])
    examples = []
    for row in duplicated.slice(0, EXAMPLES).to_pylist():
        times = row.pop("count_all")
        key = ", ".join(_show(v) for v in row.values())
        examples.append(f"{key if len(row) == 1 else f'({key})'} ×{times}")
    extra = pc.sum(duplicated["count_all"]).as_py() - duplicated.num_rows
    return TestFailure(test, f"{duplicated.num_rows} values repeated ({extra} extra rows)", tuple(examples))


def _accepted_values(test: DataTest, result: pa.Table) -> TestFailure | None:
    column = result[test.columns[0]]
    as_text = pc.cast(column, pa.string()) if column.type != pa.string() else column
    unexpected = pc.and_(pc.is_valid(as_text), pc.invert(pc.is_in(as_text, pa.array(test.values))))
    bad = as_text.filter(unexpected)
    if len(bad) == 0:
        return None
    tally = pc.value_counts(bad)
    counts = pa.table({"values": tally.field("values"), "counts": tally.field("counts")}).sort_by(
        [("counts", "descending"), ("values", "ascending")]
    )
    examples = tuple(f"{_show(r['values'])} ×{r['counts']}" for r in counts.slice(0, EXAMPLES).to_pylist())
    return TestFailure(test, f"{len(bad)} rows with other values", examples)
