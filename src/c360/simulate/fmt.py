"""Vectorized text formatting and file writing for the simulators.

Everything a simulator writes passes through here, so that the hot paths never loop over rows in
Python: numbers become text with Arrow casts, dates and times come from small lookup tables
(one string per day, one per second of the day) taken by index, and lines are written straight
from the Arrow string buffer. Times are int64 microseconds since the Unix epoch (UTC) and dates
are int days since the epoch, which keeps arithmetic in NumPy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
_FIRST_DAY = -25_567  # 1900-01-01: the oldest date a simulator writes (birth dates)
_LAST_DAY = 47_482  # 2099-12-31

Text = pa.Array | pa.ChunkedArray | pa.Scalar | str


def s(value: str) -> pa.Scalar:
    """A string scalar, for the constant parts of a line."""
    return pa.scalar(value, pa.string())


def join(*parts: Text, sep: str = "") -> pa.Array:
    """Concatenate columns and constants element-wise (a null part makes the result null)."""
    args = [s(p) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*args, sep)


def text(values: np.ndarray | pa.Array) -> pa.Array:
    """Integers (or floats) as their shortest decimal text."""
    arr = values if isinstance(values, pa.Array) else pa.array(values)
    return pc.cast(arr, pa.string())


def zpad(values: np.ndarray, width: int) -> pa.Array:
    """Non-negative integers zero-padded to ``width`` digits."""
    return pc.utf8_lpad(text(values), width, "0")


def take(pool: pa.Array, index: np.ndarray) -> pa.Array:
    """``pool[index]`` for a pool of strings; index -1 gives null."""
    idx = pa.array(index, mask=(index < 0)) if (index < 0).any() else pa.array(index)
    return pc.take(pool, idx)


def where(mask: np.ndarray, if_true: Text, if_false: Text) -> pa.Array:
    """Element-wise choice between two columns (or constants) by a NumPy mask."""
    a = s(if_true) if isinstance(if_true, str) else if_true
    b = s(if_false) if isinstance(if_false, str) else if_false
    return pc.if_else(pa.array(mask, pa.bool_()), a, b)


def null_where(mask: np.ndarray, values: pa.Array) -> pa.Array:
    """``values`` with the rows under ``mask`` set to null."""
    return pc.if_else(pa.array(mask, pa.bool_()), pa.scalar(None, values.type), values)


@lru_cache(maxsize=1)
def _day_table() -> tuple[pa.Array, pa.Array, pa.Array]:
    days = np.arange(_FIRST_DAY, _LAST_DAY + 1).astype("datetime64[D]")
    iso = pa.array(np.datetime_as_string(days))
    compact = pc.replace_substring(iso, "-", "")
    ymd = days.astype(object)  # ~73k dates, once per process
    mdy = pa.array([f"{d.month}/{d.day}/{d.year}" for d in ymd])
    return iso, compact, mdy


@lru_cache(maxsize=1)
def _second_table() -> pa.Array:
    secs = np.arange(86_400)
    hh, mm, ss = secs // 3600, secs // 60 % 60, secs % 60
    return join(zpad(hh, 2), zpad(mm, 2), zpad(ss, 2), sep=":")


def _day_index(days: np.ndarray) -> np.ndarray:
    idx = np.asarray(days, dtype=np.int64) - _FIRST_DAY
    if idx.size and (idx.min() < 0 or idx.max() > _LAST_DAY - _FIRST_DAY):
        raise ValueError("date outside 1900-2099")
    return idx


def iso_date(days: np.ndarray) -> pa.Array:
    """Days since the epoch → ``YYYY-MM-DD``."""
    return pc.take(_day_table()[0], pa.array(_day_index(days)))


def compact_date(days: np.ndarray) -> pa.Array:
    """Days since the epoch → ``YYYYMMDD`` (GA's ``date``, retail's ``Date_Key``)."""
    return pc.take(_day_table()[1], pa.array(_day_index(days)))


def us_date(days: np.ndarray) -> pa.Array:
    """Days since the epoch → ``M/D/YYYY`` (the retail system's order date)."""
    return pc.take(_day_table()[2], pa.array(_day_index(days)))


def datetime_text(micros: np.ndarray, sep: str = "T", fraction: bool = True, suffix: str = "") -> pa.Array:
    """Microseconds since the epoch → ``YYYY-MM-DD<sep>HH:MM:SS[.ffffff]<suffix>``."""
    micros = np.asarray(micros, dtype=np.int64)
    days, rem = np.divmod(micros, US_PER_DAY)
    secs, frac = np.divmod(rem, US_PER_SECOND)
    parts: list[Text] = [iso_date(days), sep, pc.take(_second_table(), pa.array(secs))]
    if fraction:
        parts += [".", zpad(frac, 6)]
    if suffix:
        parts.append(suffix)
    return join(*parts)


def json_str(values: pa.Array) -> pa.Array:
    """A JSON string literal per value (``null`` for null). Pool values never need escaping."""
    return pc.fill_null(join('"', values, '"'), "null")


def json_num(values: np.ndarray | pa.Array) -> pa.Array:
    """A JSON number per value (``null`` for null)."""
    return pc.fill_null(text(values), "null")


def csv_field(values: pa.Array) -> pa.Array:
    """RFC 4180 quoting where needed; null becomes the empty field."""
    values = pc.cast(values, pa.string())
    needs = pc.match_substring_regex(values, '[",\\n]')
    quoted = join('"', pc.replace_substring(values, '"', '""'), '"')
    return pc.fill_null(pc.if_else(needs, quoted, values), "")


def csv_quote_pool(values: Iterable[str]) -> list[str]:
    """Quote a small constant pool once, instead of checking every row."""
    out = []
    for v in values:
        out.append('"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n') else v)
    return out


def write_lines(handle: BinaryIO, lines: pa.Array | pa.ChunkedArray, chunk: int = 1_000_000) -> int:
    """Append ``lines`` to an open binary file, each followed by ``\\n``; returns the count.

    The text goes from the Arrow buffer to the file without a Python string per line.
    """
    arrays = lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]
    count = 0
    for arr in arrays:
        for lo in range(0, len(arr), chunk):
            part = join(arr.slice(lo, chunk), "\n")
            if part.null_count:
                raise ValueError("a line to write is null")
            dtype = np.int64 if part.type == pa.large_string() else np.int32
            offsets = np.frombuffer(part.buffers()[1], dtype=dtype)[part.offset : part.offset + len(part) + 1]
            handle.write(memoryview(part.buffers()[2])[offsets[0] : offsets[-1]])
            count += len(part)
    return count


def write_text_file(path: Path, lines: pa.Array, header: str | None = None, bom: bool = False) -> int:
    """Write a whole text file (optional UTF-8 BOM and header line); returns the data lines written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        if bom:
            handle.write(b"\xef\xbb\xbf")
        if header is not None:
            handle.write(header.encode() + b"\n")
        return write_lines(handle, lines)


def assemble(choice: np.ndarray, builders: list[Callable[[np.ndarray], pa.Array]]) -> pa.Array:
    """Rows built by ``builders[choice[row]]``, each builder given only its own rows' indices.

    Cheaper than building every variant for every row and choosing afterwards.
    """
    choice = np.asarray(choice)
    order = np.argsort(choice, kind="stable")
    bounds = np.searchsorted(choice[order], np.arange(len(builders) + 1))
    pieces = [
        builders[k](order[bounds[k] : bounds[k + 1]])
        for k in range(len(builders))
        if bounds[k + 1] > bounds[k]
    ]
    combined = (
        pa.concat_arrays([p.cast(pa.string()) for p in pieces]) if pieces else pa.array([], pa.string())
    )
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    return combined.take(pa.array(inverse))
