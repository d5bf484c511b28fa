"""Simulating every source system: seconds, customers/s, rows/s and peak RSS, beside a CSV floor.

``c360.simulate.generate`` runs in a fresh process per run, into a directory of its own (counted
and removed outside the timing, as are the imports). The floor is writing the same number of rows of a trivial
NumPy-generated table as CSV with pyarrow, measured in the same run: the ratio says how much the
realism (names, dirt, attacks, nested JSON, truth files) costs over just putting bytes on disk.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from benchmarks.common import Figure, measure, timed

SEED = 1
TARGET_SECONDS_PER_MILLION = 60.0
FLOOR_CHUNK_ROWS = 1_000_000


def simulate(customers: int, seed: int, parent: str) -> tuple[float, tuple[int, int]]:
    """Generate into a new directory under ``parent``: seconds, (data rows written, bytes written)."""
    from c360.simulate import generate

    out = Path(tempfile.mkdtemp(prefix="simulate-", dir=parent))
    seconds, summary = timed(lambda: generate(customers, seed, out))
    written = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    return seconds, (summary.total_rows, written)


def csv_floor(rows: int, parent: str) -> tuple[float, int]:
    """``rows`` rows of 8 trivial NumPy columns written as CSV by pyarrow: seconds, bytes written."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("key", pa.int64()),
            ("amount", pa.float64()),
            ("at", pa.timestamp("s")),
            ("word", pa.string()),
            ("flag", pa.bool_()),
            ("count", pa.int32()),
            ("score", pa.float64()),
        ]
    )
    words = pa.array(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"])
    path = Path(tempfile.mkdtemp(prefix="floor-", dir=parent)) / "floor.csv"

    def write() -> int:
        rng = np.random.default_rng(0)
        with pacsv.CSVWriter(path, schema) as writer:
            for start in range(0, rows, FLOOR_CHUNK_ROWS):
                n = min(FLOOR_CHUNK_ROWS, rows - start)
                ids = np.arange(start, start + n, dtype=np.int64)
                columns = {
                    "id": ids,
                    "key": rng.integers(0, 1_000_000, n),
                    "amount": rng.random(n) * 1000,
                    "at": pa.array(
                        np.datetime64("2024-01-01T00:00:00", "s") + ids.astype("timedelta64[s]"),
                        pa.timestamp("s"),
                    ),
                    "word": words.take(pa.array(rng.integers(0, len(words), n))),
                    "flag": rng.random(n) < 0.5,
                    "count": rng.integers(0, 100, n, dtype=np.int32),
                    "score": rng.standard_normal(n),
                }
                writer.write_table(pa.table(columns, schema=schema))
        return path.stat().st_size

    return timed(write)


def run_simulation(customers: list[int], work: Path, repeat: int) -> list[Figure]:
    figures: list[Figure] = []
    for n in customers:
        scratch = work / f"simulate-{n}"
        scratch.mkdir()
        try:
            seconds, peak, (rows, written) = measure(simulate, n, SEED, str(scratch), repeat=repeat)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        try:
            floor_seconds, _, floor_bytes = measure(csv_floor, rows, str(scratch), repeat=repeat)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        budget = TARGET_SECONDS_PER_MILLION * n / 1_000_000
        verdict = "met" if seconds <= budget else "MISSED"
        size = f"{n:,} customers, {rows:,} rows, {written / 1e6:,.0f} MB"
        figures += [
            Figure(
                "simulate",
                size,
                "seconds",
                seconds,
                "s",
                f"target ≤ {budget:,.3g} s (60 s per 1M): {verdict}",
            ),
            Figure("simulate", size, "customers_per_s", n / seconds, "customers/s"),
            Figure("simulate", size, "rows_per_s", rows / seconds, "rows/s", "summary.total_rows / s"),
            Figure("simulate", size, "mb_per_s", written / 1e6 / seconds, "MB/s", "all files under out/"),
            Figure("simulate", size, "peak_rss", peak / 2**20, "MiB"),
            Figure(
                "simulate",
                size,
                "floor_seconds",
                floor_seconds,
                "s",
                f"pyarrow CSV of {rows:,} NumPy rows × 8 columns ({floor_bytes / 1e6:,.0f} MB)",
            ),
            Figure("simulate", size, "ratio_to_floor", seconds / floor_seconds, "x"),
        ]
    return figures
