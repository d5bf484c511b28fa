"""Measuring helpers: medians over repeated runs, each in a fresh process so peak RSS is its own."""

from __future__ import annotations

import json
import multiprocessing
import platform
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from queue import Empty
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Figure:
    benchmark: str
    size: str
    metric: str
    value: float
    unit: str
    note: str = ""


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Time ``fn()`` alone; benchmark functions import their libraries before calling this, so that
    interpreter start-up and imports (paid once per process, not per row) stay out of the rate."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def preload_c360() -> None:
    """Import what a landing loads lazily, so that ``timed()`` measures the work, not the imports."""
    import duckdb  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import pyiceberg.catalog.sql
    import pyiceberg.io.pyarrow  # noqa: F401

    import c360.sources.registry  # noqa: F401


def _child(queue: multiprocessing.Queue, fn: Callable[..., tuple[float, Any]], args: tuple) -> None:
    seconds, extra = fn(*args)
    queue.put((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, extra))


def measure(fn: Callable[..., Any], *args: Any, repeat: int = 3) -> tuple[float, int, Any]:
    """Run ``fn(*args)`` ``repeat`` times, each in a new process: (median seconds, max peak RSS bytes, extra).

    ``fn`` must be a module-level function returning ``timed(...)``'s (seconds, extra); ``extra``
    is what its last run returned.
    """
    context = multiprocessing.get_context("spawn")
    times, peaks, extra = [], [], None
    for _ in range(repeat):
        queue = context.Queue()
        process = context.Process(target=_child, args=(queue, fn, args))
        process.start()
        while True:
            try:
                seconds, peak, extra = queue.get(timeout=1)
                break
            except Empty:
                if not process.is_alive():
                    raise RuntimeError(f"{fn.__name__} failed in its benchmark process") from None
        process.join()
        times.append(seconds)
        peaks.append(peak)
    return statistics.median(times), max(peaks), extra


def machine_note() -> str:
    import os

    return f"{platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}"


def save(figures: list[Figure]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y%m%d}.jsonl"
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with open(path, "a", encoding="utf-8") as handle:
        for figure in figures:
            handle.write(json.dumps({"at": stamp, "machine": machine_note(), **asdict(figure)}) + "\n")
    return path
