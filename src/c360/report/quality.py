"""Data-quality figures: how many rows each source landed, staged and quarantined, and why.

Read from ``stage.batches`` (one reconciliation row per staged batch) and ``quarantine.<source>``
(one row per rejected raw row, with the first rule it broke). They cover everything staged so far,
not a date range: a quarantined row's own date is often exactly what was wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from c360.lake.query import run_query
from c360.lake.tables import load_table

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

# How a stage rule reads in a report; "{column}" is the column that broke it.
REASONS = {
    "allowed_values": "unknown {column}",
    "future": "{column} in the future",
    "range": "{column} out of range",
    "not_null": "missing {column}",
    "type": "unreadable {column}",
    "format": "unreadable {column}",
    "pattern": "malformed {column}",
    "duplicate": "exact re-send",
    "unparseable": "unparseable line",
    "schema": "column missing from the batch",
}


@dataclass(frozen=True)
class SourceQuality:
    source: str
    batches: int
    raw_rows: int
    stage_rows: int
    quarantine_rows: int
    duplicates: int


@dataclass(frozen=True)
class Reason:
    source: str
    reason: str
    rule: str
    column: str | None
    rows: int


@dataclass
class Quality:
    sources: list[SourceQuality] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)

    @property
    def quarantined(self) -> int:
        return sum(s.quarantine_rows for s in self.sources)


def reason_text(rule: str, column: str | None, negative: bool = False) -> str:
    """``range`` below zero reads "negative <column>": the case a price or an amount hits."""
    if rule == "range" and negative:
        return f"negative {column}"
    return REASONS.get(rule, rule).format(column=column or "value")


def load_quality(catalog: SqlCatalog) -> Quality:
    quality = Quality()
    if load_table(catalog, "stage.batches") is None:
        return quality
    for row in run_query(
        catalog,
        "SELECT source, count(*) AS batches, sum(raw_rows) AS raw_rows, sum(stage_rows) AS stage_rows, "
        "sum(quarantine_rows) AS quarantine_rows, sum(duplicates) AS duplicates FROM stage.batches "
        "GROUP BY source ORDER BY source",
    ).to_pylist():
        quality.sources.append(
            SourceQuality(**{k: row[k] for k in row if k != "source"}, source=row["source"])
        )
    for source in quality.sources:
        if source.quarantine_rows:
            quality.reasons += _reasons(catalog, source.source)
    quality.reasons.sort(key=lambda r: (r.source, -r.rows, r.reason))
    return quality


def _reasons(catalog: SqlCatalog, source: str) -> list[Reason]:
    name = f"quarantine.{source}"
    if load_table(catalog, name) is None:
        return []
    rows: list[dict[str, Any]] = run_query(
        catalog,
        "SELECT rule, column_name, coalesce(TRY_CAST(value AS DOUBLE) < 0, FALSE) AS negative, "
        "count(*) AS n "
        f'FROM quarantine."{source}" GROUP BY ALL',
    ).to_pylist()
    merged: dict[tuple[str, str, str | None], int] = {}
    for row in rows:
        key = (reason_text(row["rule"], row["column_name"], row["negative"]), row["rule"], row["column_name"])
        merged[key] = merged.get(key, 0) + row["n"]
    return [Reason(source, reason, rule, column, n) for (reason, rule, column), n in merged.items()]
