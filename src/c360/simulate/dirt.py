"""Dirt shared by every simulated source, and the log of where it was put.

Real extracts are never clean (the reference retail file has 817 impossible dates), so each
simulator damages its output on purpose: duplicate lines, nulls, impossible dates, malformed
lines, wrong types, unknown codes, late records. Every damaged line is logged with its file and
line number so the platform's data-quality checks can be scored against ``_truth/dirt.csv``.

A file is planned as an ``order`` of records (a record may appear twice: an exact duplicate),
rendered to lines, then a few lines are broken. Field-level dirt is applied to columns before
rendering and logged by record; :meth:`FilePlan.lines_of` turns records into line numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.simulate.rand import pick

DUPLICATE = "duplicate"
NULL = "null"
IMPOSSIBLE_DATE = "impossible_date"
MALFORMED_SHORT = "malformed_too_few_fields"
MALFORMED_LONG = "malformed_extra_field"
MALFORMED_TRUNCATED = "malformed_truncated"
WRONG_TYPE = "wrong_type"
UNKNOWN_CODE = "unknown_code"
LATE = "late_arriving"
OUT_OF_ORDER = "out_of_order"
UPDATE = "update"  # not dirt: a record sent again with a change (listed so scorers can find them)
MALFORMED = (MALFORMED_SHORT, MALFORMED_LONG, MALFORMED_TRUNCATED)


@dataclass
class DirtLog:
    """Collects ``(source, file, line, record_key, kind)`` rows for ``_truth/dirt.csv``."""

    out: Path
    parts: list[pa.Table] = field(default_factory=list)

    def add(self, source: str, file: Path, lines: np.ndarray, keys: pa.Array | None, kind: str) -> None:
        lines = np.asarray(lines, dtype=np.int64)
        if lines.size == 0:
            return
        n = lines.size
        rel = file.relative_to(self.out).as_posix()
        key = keys.cast(pa.string()) if keys is not None else pa.nulls(n, pa.string())
        self.parts.append(
            pa.table(
                {
                    "source": pa.repeat(source, n),
                    "file": pa.repeat(rel, n),
                    "line": pa.array(lines),
                    "record_key": key,
                    "kind": pa.repeat(kind, n),
                }
            )
        )

    def table(self) -> pa.Table:
        if not self.parts:
            return pa.table({"source": [], "file": [], "line": [], "record_key": [], "kind": []})
        return pa.concat_tables(self.parts)


@dataclass
class FilePlan:
    """The records a file shows, line by line, and where each record first appears."""

    order: np.ndarray  # record index per data line
    copy: np.ndarray  # this line repeats an earlier line exactly
    header_lines: int = 0  # lines before the first record (a header)

    @property
    def n_lines(self) -> int:
        return self.order.size

    def lines_of(self, records: np.ndarray) -> np.ndarray:
        """1-based physical line numbers where ``records`` first appear."""
        first = np.full(int(self.order.max()) + 1 if self.order.size else 0, -1, dtype=np.int64)
        originals = np.flatnonzero(~self.copy)
        first[self.order[originals]] = originals
        return first[np.asarray(records, dtype=np.int64)] + 1 + self.header_lines

    def copy_lines(self) -> np.ndarray:
        return np.flatnonzero(self.copy) + 1 + self.header_lines

    def line_numbers(self, positions: np.ndarray) -> np.ndarray:
        return np.asarray(positions, dtype=np.int64) + 1 + self.header_lines


def plan_with_duplicates(
    rng: np.random.Generator, n: int, rate: float, minimum: int = 1, header_lines: int = 0
) -> FilePlan:
    """Records in order, with exact copies of some of them inserted at random later places."""
    dup = pick(rng, n, rate, minimum) if n else np.zeros(0, dtype=np.int64)
    # each copy goes after a random later original: insert before original number ``after``
    after = dup + 1 + (rng.random(dup.size) * (n - dup)).astype(np.int64)
    by_place = np.argsort(after, kind="stable")
    after, dup = after[by_place], dup[by_place]
    order = np.insert(np.arange(n), after, dup)
    copy = np.insert(np.zeros(n, dtype=bool), after, True)
    return FilePlan(order=order, copy=copy, header_lines=header_lines)


def originals(
    plan: FilePlan, rng: np.random.Generator, count: int, exclude: np.ndarray | None = None
) -> np.ndarray:
    """``count`` distinct line positions (0-based) holding an original (not duplicated) record."""
    allowed = ~plan.copy
    if exclude is not None and exclude.size:
        allowed = allowed.copy()
        allowed[exclude] = False
    candidates = np.flatnonzero(allowed)
    count = min(count, candidates.size)
    return np.sort(rng.choice(candidates, size=count, replace=False)) if count else candidates[:0]


def break_lines(
    lines: pa.Array, positions: np.ndarray, kind: str, rng: np.random.Generator, sep: str = ","
) -> pa.Array:
    """Damage the lines at ``positions``: drop trailing fields, add one, or cut the line short.

    Only a handful of lines per file are broken, so this one step works on Python strings.
    """
    if positions.size == 0:
        return lines
    originals_ = lines.take(pa.array(positions)).to_pylist()
    broken = []
    for line in originals_:
        if kind == MALFORMED_SHORT:
            fields = line.split(sep)
            keep = max(1, len(fields) - 1 - int(rng.integers(0, max(1, len(fields) // 2))))
            broken.append(sep.join(fields[:keep]))
        elif kind == MALFORMED_LONG:
            broken.append(line + sep + "EXTRA")
        else:
            cut = max(1, int(len(line) * float(rng.uniform(0.3, 0.8))))
            broken.append(line[:cut])
    mask = np.zeros(len(lines), dtype=bool)
    mask[positions] = True
    return pc.replace_with_mask(lines, pa.array(mask), pa.array(broken, pa.string()))
