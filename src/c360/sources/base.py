"""The two shapes of connector.

* A :class:`FileConnector` names files; the framework lands each one byte for byte and then asks
  the connector to parse the landed copy into Parquet, all columns as text (a file has no types).
* A :class:`RowConnector` pulls rows from a live system (an API, a database) as Arrow, with the
  source's own types. It receives the state saved after the last landed batch and yields
  :class:`RowBatch` es; each carries the state to save once *that* batch is committed, so a crash
  between batches loses nothing and repeats nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

# Columns the framework adds to every raw table; a source column may not use the prefix.
RAW_PREFIX = "_c360_"


@dataclass(frozen=True)
class ParsedFile:
    """What parsing one landed file produced."""

    files: list[Path]
    """Parquet files written (none for a file without records)."""
    rows: int
    """Records in the file: parsed rows plus rejected lines (both land, so nothing is lost)."""
    rejected: int = 0


@dataclass
class RowBatch:
    """Rows from a live system and the incremental state that holds once they are landed."""

    data: pa.Table | pa.RecordBatchReader
    state: dict[str, Any]
    description: str


class FileConnector(ABC):
    """A source delivered as files (mainframe extracts, exports, sales files)."""

    def __init__(self, name: str, files: list[Path]) -> None:
        self.name = name
        self._files = files

    def files(self) -> list[Path]:
        """The files to consider, in landing order; already-landed ones are skipped by checksum."""
        return self._files

    @abstractmethod
    def parse(self, path: Path, out_dir: Path, batch_id: str) -> ParsedFile:
        """Parse the landed file at ``path`` into Parquet files inside ``out_dir``.

        Every column is text exactly as it appears in the file, after the framework columns
        ``_c360_batch_id``, ``_c360_record`` (1-based number of the record among those parsed)
        and, for a line the parser could not split into the expected fields, ``_c360_line`` (its
        physical line number), ``_c360_error`` (why) and ``_c360_text`` (the line as it was), so
        that stage can quarantine it with its location.
        """


class RowConnector(ABC):
    """A source pulled from a live system (REST API, SQL database)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def extract(self, state: dict[str, Any]) -> Iterator[RowBatch]:
        """Yield the rows that are new since ``state`` ({} on the first run).

        Raise :class:`c360.errors.SourceError` when the source fails after retries; a batch that
        was not fully received must not be yielded.
        """
