"""The header of a model file: the ``-- key: value`` lines that say what its table is.

The header is the first block of ``--`` lines (a blank line or the first SQL line ends it), so
the documentation of a table lives next to its SQL and the catalog, the data tests and the
materialization all read it from there::

    -- model: analytics.dim_demographic
    -- description: One row per customer: age, age band, life stage.
    -- grain: customer_id
    -- partition: snapshot_date
    -- incremental: event_date from stage.clickstream.event_time within 1 day
    -- tests: not_null(customer_id); unique(customer_id); row_count_min(1)
    -- tests: accepted_values(age_band: 18-24, 25-34, 35-44)
    -- column customer_id: The customer [pii]
    -- column age_band: Age band at the snapshot date

``incremental`` (instead of ``partition``) partitions the table by a date column and rebuilds
only the days that new data of the named stage table can change (see docs/models.md).
``order: none`` writes the result in the engine's order instead of sorted by the grain: for a big
intermediate table, which no one reads in file order and which costs as much to sort as to build.

A line starting ``--`` followed by two or more spaces continues the previous value. ``tests``
may repeat; every other key appears once. Any other line is refused with its file and line, so a
misspelt key never silently drops a test.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from c360.engine.errors import ModelError

MODEL_ZONES = ("identity", "analytics")
IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
KEY_LINE = re.compile(
    rf"^ ?(model|description|grain|partition|incremental|order|tests|column\s+({IDENTIFIER}))\s*:(.*)$"
)
CONTINUATION = re.compile(r"^(?:  |\t)\s*(\S.*)$")
TEST_CALL = re.compile(rf"^({IDENTIFIER})\s*\((.*)\)$", re.DOTALL)
TABLE_NAME = re.compile(rf"^({IDENTIFIER})\.({IDENTIFIER})$")
INCREMENTAL = re.compile(
    rf"^({IDENTIFIER})\s+from\s+({IDENTIFIER}\.{IDENTIFIER})\.({IDENTIFIER})(?:\s+within\s+(\d+)\s+days?)?$"
)
INCREMENTAL_USAGE = "<date column> from <zone>.<table>.<time column> [within <n> days]"
PII_TAG = re.compile(r"\s*\[pii\]\s*$", re.IGNORECASE)
TEST_KINDS = {
    "not_null": "not_null(column, ...)",
    "unique": "unique(column, ...)",
    "accepted_values": "accepted_values(column: value, value, ...)",
    "row_count_equals": "row_count_equals(zone.table)",
    "row_count_min": "row_count_min(n)",
}
KNOWN_KEYS = "model, description, grain, partition, incremental, order, tests, column <name>"
ORDERS = ("grain", "none")


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    description: str
    pii: bool
    line: int


@dataclass(frozen=True)
class DataTest:
    """One check on a model's result, run before the result may replace the table."""

    kind: str
    text: str  # as written in the header, for messages
    line: int
    columns: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    table: str | None = None
    minimum: int | None = None


@dataclass(frozen=True)
class Incremental:
    """Which days of the table a new batch of ``source`` can change.

    A row of ``source`` dated D (the day of its ``source_column``) can change the table's
    ``column`` partitions D - ``margin_days`` to D + ``margin_days``.
    """

    column: str
    source: str
    source_column: str
    margin_days: int


@dataclass(frozen=True)
class Header:
    model: str
    description: str
    grain: tuple[str, ...]
    partition: str | None
    tests: tuple[DataTest, ...]
    columns: dict[str, ColumnDoc]
    line_of: dict[str, int]  # key → line it was declared on, for messages about it
    incremental: Incremental | None = None
    sorted: bool = True  # False with ``order: none``


def parse_header(text: str, path: Path) -> Header:
    """Read the header of the model file ``path`` (whose content is ``text``)."""
    entries = _entries(text, path)
    values: dict[str, str] = {}
    line_of: dict[str, int] = {}
    tests: list[DataTest] = []
    columns: dict[str, ColumnDoc] = {}
    for key, value, line in entries:
        if key == "tests":
            tests.extend(_parse_tests(value, path, line))
        elif key.startswith("column "):
            name = key.split()[1]
            if name in columns:
                raise ModelError(
                    path, line, f"column {name} is described twice (first on line {columns[name].line})"
                )
            pii = bool(PII_TAG.search(value))
            columns[name] = ColumnDoc(name, PII_TAG.sub("", value), pii, line)
        elif key in values:
            raise ModelError(path, line, f"'{key}' is declared twice (first on line {line_of[key]})")
        else:
            values[key] = value
            line_of[key] = line
    for required in ("model", "description"):
        if not values.get(required):
            raise ModelError(
                path,
                1,
                f"the header has no '{required}:' line",
                hint="start the file with '-- model: analytics.<table>' and '-- description: ...'",
            )
    partition = _partition(values.get("partition"), path, line_of.get("partition", 0))
    incremental = _incremental(values.get("incremental"), path, line_of.get("incremental", 0))
    if incremental is not None:
        if partition not in (None, incremental.column):
            raise ModelError(
                path,
                line_of["partition"],
                f"partition: {partition} differs from the incremental column {incremental.column}",
                hint="an incremental table is partitioned by its incremental column: drop the partition line",
            )
        partition = incremental.column
    return Header(
        model=_model_name(values["model"], path, line_of["model"]),
        description=values["description"],
        grain=_identifiers(values.get("grain", ""), path, line_of.get("grain", 0), "grain"),
        partition=partition,
        tests=tuple(tests),
        columns=columns,
        line_of=line_of,
        incremental=incremental,
        sorted=_order(values.get("order", "grain"), path, line_of.get("order", 0)) == "grain",
    )


def _entries(text: str, path: Path) -> list[tuple[str, str, int]]:
    """(key, value, line) of each header entry, continuation lines joined to their entry."""
    entries: list[list] = []
    started = False
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not started and not stripped:
            continue
        if not stripped.startswith("--"):
            break
        started = True
        body = stripped[2:]
        if not body.strip():
            continue
        match = KEY_LINE.match(body)
        if match:
            key = f"column {match.group(2)}" if match.group(2) else match.group(1)
            entries.append([key, match.group(3).strip(), number])
            continue
        continued = CONTINUATION.match(body)
        if continued and entries:
            entries[-1][1] = f"{entries[-1][1]} {continued.group(1).strip()}".strip()
            continue
        raise ModelError(
            path,
            number,
            f"cannot read the header line '{stripped}'",
            hint=f"header lines are '-- key: value' with key one of: {KNOWN_KEYS} "
            "(end the header with a blank line before free comments)",
        )
    return [(key, value, line) for key, value, line in entries]


def _model_name(value: str, path: Path, line: int) -> str:
    match = TABLE_NAME.match(value)
    if not match or match.group(1) not in MODEL_ZONES:
        raise ModelError(
            path,
            line,
            f"model name '{value}' is not <zone>.<table> with a zone among {', '.join(MODEL_ZONES)}",
            hint="models write the identity and analytics zones, e.g. analytics.dim_demographic",
        )
    return value


def _identifiers(value: str, path: Path, line: int, key: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    for name in names:
        if not re.fullmatch(IDENTIFIER, name):
            raise ModelError(path, line, f"{key}: '{name}' is not a column name")
    return names


def _partition(value: str | None, path: Path, line: int) -> str | None:
    if value is None:
        return None
    names = _identifiers(value, path, line, "partition")
    if len(names) != 1:
        raise ModelError(path, line, "partition: name exactly one column (e.g. snapshot_date)")
    return names[0]


def _order(value: str, path: Path, line: int) -> str:
    if value not in ORDERS:
        raise ModelError(
            path,
            line,
            f"order: '{value}' is not one of {', '.join(ORDERS)}",
            hint="grain (the default) sorts the result by its grain; none keeps the engine's order",
        )
    return value


def _incremental(value: str | None, path: Path, line: int) -> Incremental | None:
    if value is None:
        return None
    match = INCREMENTAL.match(value)
    if not match:
        raise ModelError(
            path,
            line,
            f"cannot read 'incremental: {value}'",
            hint=f"write it as {INCREMENTAL_USAGE}, "
            "e.g. event_date from stage.clickstream.event_time within 1 day",
        )
    column, source, source_column, margin = match.groups()
    return Incremental(column, source, source_column, int(margin or 0))


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside parentheses and quotes."""
    parts, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def _parse_tests(value: str, path: Path, line: int) -> list[DataTest]:
    return [_parse_test(text, path, line) for text in _split_top_level(value, ";")]


def _parse_test(text: str, path: Path, line: int) -> DataTest:
    match = TEST_CALL.match(text)
    if not match or match.group(1) not in TEST_KINDS:
        raise ModelError(
            path, line, f"unknown data test '{text}'", hint="known tests: " + "; ".join(TEST_KINDS.values())
        )
    kind, argument = match.group(1), match.group(2).strip()
    usage = f"write it as {TEST_KINDS[kind]}"
    if kind in ("not_null", "unique"):
        columns = _identifiers(argument, path, line, kind)
        if not columns:
            raise ModelError(path, line, f"'{text}' names no column", hint=usage)
        return DataTest(kind, text, line, columns=columns)
    if kind == "accepted_values":
        column, colon, listed = argument.partition(":")
        values = next(csv.reader([listed], skipinitialspace=True, quotechar="'"), [])
        values = [v.strip() for v in values if v.strip()]
        if not colon or not re.fullmatch(IDENTIFIER, column.strip()) or not values:
            raise ModelError(path, line, f"cannot read '{text}'", hint=usage)
        return DataTest(kind, text, line, columns=(column.strip(),), values=tuple(values))
    if kind == "row_count_equals":
        if not TABLE_NAME.match(argument):
            raise ModelError(path, line, f"'{text}' does not name a <zone>.<table>", hint=usage)
        return DataTest(kind, text, line, table=argument)
    if not argument.isdigit():
        raise ModelError(path, line, f"'{text}' needs a whole number", hint=usage)
    return DataTest(kind, text, line, minimum=int(argument))
