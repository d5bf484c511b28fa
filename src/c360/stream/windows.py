"""Event-time windows over arrays: which window each event falls in, and when a window's count
crosses a threshold.

Every function works on whole arrays (one NumPy sort per call, never one Python call per event).
Events carry an arrival sequence number ``seq``: a count "crosses" at the event whose arrival made
it exceed the threshold, and only crossings by events of the current micro-batch are reported, so
each window fires once however many batches it spans.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """``size_us`` long, starting every ``slide_us`` (tumbling when the two are equal)."""

    size_us: int
    slide_us: int

    @property
    def tumbling(self) -> bool:
        return self.size_us == self.slide_us

    @property
    def copies(self) -> int:
        return -(-self.size_us // self.slide_us)


@dataclass
class Crossings:
    """One row per window whose count crossed the threshold during the current batch."""

    row: np.ndarray  # index (into the arrays given) of the event that crossed
    key: np.ndarray
    window_start_us: np.ndarray
    window_end_us: np.ndarray
    first_time_us: np.ndarray  # earliest event time counted in the window so far
    count: np.ndarray  # the count the crossing reached (threshold + 1): the same whatever the batching


def assign(times_us: np.ndarray, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """(event index, window number) pairs: one per window each event belongs to.

    Window ``w`` covers ``[w * slide, w * slide + size)``.
    """
    last = np.floor_divide(times_us, window.slide_us)
    if window.tumbling:
        return np.arange(times_us.size), last
    k = window.copies
    index = np.repeat(np.arange(times_us.size), k)
    number = np.repeat(last, k) - np.tile(np.arange(k), times_us.size)
    inside = times_us[index] < number * window.slide_us + window.size_us
    return index[inside], number[inside]


def _group_starts(*sorted_columns: np.ndarray) -> np.ndarray:
    n = sorted_columns[0].size
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
    for column in sorted_columns:
        change[1:] |= column[1:] != column[:-1]
    return change


def crossings(
    keys: np.ndarray,
    times_us: np.ndarray,
    seq: np.ndarray,
    is_new: np.ndarray,
    window: Window,
    threshold: int,
    distinct: np.ndarray | None = None,
) -> Crossings:
    """Windows per key whose count (of events, or of distinct ``distinct`` values) goes above
    ``threshold`` at an event of the current batch (``is_new``)."""
    index, number = assign(times_us, window)
    key = keys[index]
    if distinct is not None:  # keep each value's first arrival in each window
        value = distinct[index]
        order = np.lexsort((seq[index], value, number, key))
        first = _group_starts(key[order], number[order], value[order])
        index, number, key = index[order][first], number[order][first], key[order][first]
    order = np.lexsort((seq[index], number, key))
    index, number, key = index[order], number[order], key[order]
    starts = _group_starts(key, number)
    group = np.cumsum(starts) - 1
    start_at = np.flatnonzero(starts)
    rank = np.arange(index.size) - start_at[group]
    hit = (rank == threshold) & is_new[index]
    rows = np.flatnonzero(hit)
    # earliest event time among those counted up to and including the crossing one
    counted = np.where(rank <= threshold, times_us[index], np.iinfo(np.int64).max)
    first_time = np.minimum.reduceat(counted, start_at) if start_at.size else counted
    return Crossings(
        row=index[rows],
        key=key[rows],
        window_start_us=number[rows] * window.slide_us,
        window_end_us=number[rows] * window.slide_us + window.size_us,
        first_time_us=first_time[group[rows]],
        count=np.full(rows.size, threshold + 1, dtype=np.int64),
    )


def successive_gaps(keys: np.ndarray, times_us: np.ndarray, seq: np.ndarray) -> tuple[np.ndarray, ...]:
    """Events sorted by (key, time, arrival) and the gap to the key's previous event (-1 for its first).

    Returns (order, gap_us, is_first_of_key).
    """
    order = np.lexsort((seq, times_us, keys))
    k, t = keys[order], times_us[order]
    first = _group_starts(k)
    gap = np.empty_like(t)
    if t.size:
        gap[0] = -1
        gap[1:] = t[1:] - t[:-1]
        gap[first] = -1
    return order, gap, first
