"""REES46 clickstream CSV (plus ``ip`` and ``user_agent``) → validated Arrow record batches.

Files are read as text, in order and in chunks, so a day's file never has to fit in memory; every
row that cannot be an event is rejected with a reason, never dropped silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

COLUMNS = [
    "event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id",
    "user_session", "ip", "user_agent",
]  # fmt: skip
EVENT_TYPES = ["view", "cart", "remove_from_cart", "purchase"]
VIEW, CART, REMOVE, PURCHASE = range(4)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
US_PER_SECOND = 1_000_000
MALFORMED_LINE = "malformed line"
REASONS = [
    "unparseable time", "unknown event_type", "negative price", "unparseable price", "missing user_id",
]  # fmt: skip
_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"


@dataclass
class Rejects:
    """Counts of rejected rows per reason, and the rejected rows themselves (with a ``reason``)."""

    counts: Counter = field(default_factory=Counter)
    rows: list[pa.Table] = field(default_factory=list)
    keep_rows: bool = True

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Validated:
    """A batch of valid events: the text columns, plus typed columns the detectors use."""

    table: pa.Table  # the valid rows, all columns as text
    time_us: np.ndarray  # int64 microseconds since the epoch
    kind: np.ndarray  # int8: VIEW / CART / REMOVE / PURCHASE

    @property
    def size(self) -> int:
        return self.time_us.size


def read_batches(
    path: Path, block_size: int = 1 << 22, rejects: Rejects | None = None
) -> Iterator[pa.RecordBatch]:
    """The file's rows as text record batches, in file order; lines with the wrong field count are
    counted in ``rejects`` as malformed and skipped."""

    def on_invalid(row: pcsv.InvalidRow) -> str:
        if rejects is not None:
            rejects.counts[MALFORMED_LINE] += 1
        return "skip"

    reader = pcsv.open_csv(
        path,
        read_options=pcsv.ReadOptions(block_size=block_size),
        parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(COLUMNS, pa.string()),
            include_columns=COLUMNS,
            strings_can_be_null=False,
        ),
    )
    for batch in reader:
        if batch.num_rows:
            yield batch


def validate(batch: pa.RecordBatch | pa.Table, rejects: Rejects | None = None) -> Validated:
    """Split a batch into valid events and rejects; each reject gets the first reason that applies."""
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    n = table.num_rows
    parsed = pc.strptime(table["event_time"], format=TIME_FORMAT, unit="us", error_is_null=True)
    kind = pc.index_in(table["event_type"], value_set=pa.array(EVENT_TYPES))
    price_text = table["price"]
    has_price = pc.not_equal(pc.utf8_length(price_text), 0)
    numeric = pc.match_substring_regex(price_text, _NUMBER)
    negative = pc.and_(numeric, pc.starts_with(price_text, "-"))
    reason = np.full(n, -1, dtype=np.int8)
    checks = [
        pc.is_null(parsed),
        pc.is_null(kind),
        negative,
        pc.and_(has_price, pc.invert(numeric)),
        pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(table["user_id"])), 0),
    ]
    for code in range(len(checks) - 1, -1, -1):  # first reason wins: assign in reverse
        bad = checks[code].to_numpy(zero_copy_only=False)
        reason[bad] = code
    ok = reason < 0
    if rejects is not None and not ok.all():
        codes, counts = np.unique(reason[~ok], return_counts=True)
        for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
            rejects.counts[REASONS[code]] += count
        if rejects.keep_rows:
            bad_rows = table.filter(pa.array(~ok))
            names = pa.array(REASONS).take(pa.array(reason[~ok].astype(np.int64)))
            rejects.rows.append(bad_rows.append_column("reason", names))
    keep = pa.array(ok)
    good = table.filter(keep) if not ok.all() else table
    time_us = pc.filter(parsed, keep).cast(pa.int64()).to_numpy(zero_copy_only=False)
    kinds = pc.filter(kind, keep).to_numpy(zero_copy_only=False).astype(np.int8)
    return Validated(table=good, time_us=time_us.astype(np.int64), kind=kinds)


def read_events(
    paths: list[Path], block_size: int = 1 << 22, rejects: Rejects | None = None
) -> Iterator[Validated]:
    """Valid events of the files, in file order, one chunk per read block."""
    for path in paths:
        for batch in read_batches(path, block_size, rejects):
            yield validate(batch, rejects)


def hash_text(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash of each string (nulls hash like ""), vectorized over the Arrow buffers."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    values = pc.fill_null(values, "").cast(pa.large_string())
    n = len(values)
    buffers = values.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[values.offset : values.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    data = data[offsets[0] : offsets[-1]]
    starts = offsets[:-1] - offsets[0]
    position = np.arange(data.size, dtype=np.int64) - np.repeat(starts, lengths)
    longest = int(lengths.max()) if n else 0
    powers = np.cumprod(np.full(max(longest, 1), 0x100000001B3, dtype=np.uint64), dtype=np.uint64)
    terms = (data.astype(np.uint64) + np.uint64(1)) * powers[position]
    hashed = np.zeros(n, dtype=np.uint64)
    filled = lengths > 0
    if data.size:
        hashed[filled] = np.add.reduceat(terms, starts[filled])
    hashed ^= lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    hashed ^= hashed >> np.uint64(31)
    hashed *= np.uint64(0xBF58476D1CE4E5B9)
    hashed ^= hashed >> np.uint64(29)
    return hashed.view(np.int64)
