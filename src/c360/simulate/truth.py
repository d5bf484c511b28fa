"""The ground truth, written beside the data and never into it.

Identity resolution is scored against ``records.csv`` (which hidden person each record belongs
to), attack detection against ``attacks.csv`` and data-quality checks against ``dirt.csv``.
Keeping them under ``_truth/`` means the platform can ingest ``OUT`` without seeing the answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.simulate.dirt import DirtLog
from c360.simulate.fmt import csv_field, datetime_text, join, text, write_lines, write_text_file

TRUTH_DIR = "_truth"


@dataclass
class Attack:
    """One injected attack episode (times are microseconds since the epoch, UTC)."""

    kind: str
    key_type: str
    key_value: str
    start_us: int
    end_us: int


@dataclass
class Truth:
    out: Path
    dirt: DirtLog
    records: list[tuple[str, pa.Array, pa.Array]] = field(default_factory=list)
    attacks: list[Attack] = field(default_factory=list)

    def record(self, source: str, keys: pa.Array | np.ndarray, person_ids: pa.Array) -> None:
        """Record that each ``keys[i]`` of ``source`` is the person ``person_ids[i]``."""
        keys = keys if isinstance(keys, pa.Array) else text(keys)
        if len(keys) != len(person_ids):
            raise ValueError(f"{source}: {len(keys)} keys but {len(person_ids)} people")
        self.records.append((source, keys.cast(pa.string()), person_ids))

    def write(self, summary: dict[str, Any]) -> dict[str, Path]:
        base = self.out / TRUTH_DIR
        base.mkdir(parents=True, exist_ok=True)
        paths = {name: base / f"{name}.csv" for name in ("records", "attacks", "dirt")}
        with open(paths["records"], "wb") as handle:
            handle.write(b"source,record_key,person_id\n")
            for source, keys, people in self.records:
                write_lines(handle, join(source, ",", csv_field(keys), ",", people))
        self._write_attacks(paths["attacks"])
        d = self.dirt.table().combine_chunks()
        cols = {
            name: d[name].combine_chunks() if d.num_rows else pa.array([], pa.string())
            for name in d.column_names
        }
        lines = join(
            csv_field(cols["source"]),
            ",",
            csv_field(cols["file"]),
            ",",
            text(cols["line"]),
            ",",
            csv_field(cols["record_key"]),
            ",",
            cols["kind"],
        )
        write_text_file(paths["dirt"], lines, header="source,file,line,record_key,kind")
        paths["summary"] = base / "summary.json"
        paths["summary"].write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return paths

    def _write_attacks(self, path: Path) -> None:
        a = self.attacks
        starts = np.array([x.start_us for x in a], dtype=np.int64)
        ends = np.array([x.end_us for x in a], dtype=np.int64)
        lines = join(
            text(np.arange(1, len(a) + 1)),
            ",",
            pa.array([x.kind for x in a], pa.string()),
            ",",
            pa.array([x.key_type for x in a], pa.string()),
            ",",
            csv_field(pa.array([x.key_value for x in a], pa.string())),
            ",",
            datetime_text(starts, sep=" ", fraction=False, suffix=" UTC"),
            ",",
            datetime_text(ends, sep=" ", fraction=False, suffix=" UTC"),
        )
        write_text_file(path, lines, header="episode_id,kind,key_type,key_value,start,end")


def person_ids(pop_ids: pa.Array, rows: np.ndarray) -> pa.Array:
    """The hidden labels of the people at ``rows``."""
    return pc.take(pop_ids, pa.array(np.asarray(rows, dtype=np.int64)))
