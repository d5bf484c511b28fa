"""The micro-batch sink: streamed events land in ``raw.<source>`` every N seconds or M events.

Each landing goes through the raw zone's own code (:meth:`c360.raw.landing.Lander.land_rows`), so
it gets a manifest row and the stage step and the batch KPIs pick it up like any other batch.
Events land as received (invalid and late ones too: stage's contract quarantines what is bad), with
their ``event_id`` and ``published_us``.

Neither lost nor duplicated across a crash:
- the runner acknowledges events to the transport only after the landing that holds them has
  committed, so a crash before the commit means they are delivered again;
- a landing's rows are sorted by event id, so the same events always give the same bytes and
  checksum, and the manifest refuses the same checksum twice;
- a crash between the commit and the acknowledgement redelivers events that have landed: on
  opening, the sink reads the event ids of its latest landings (``already_landed``) so the runner
  skips them.
The lake has one writer at a time: while another (``c360 ingest``) holds it, events wait and the
next flush tries again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import In

from c360.lake.lock import LakeBusyError, writer_lock
from c360.lake.tables import load_table, read_arrow
from c360.raw.landing import Lander
from c360.raw.manifest import BatchRecord, Manifest, manifest_table
from c360.raw.recovery import recover
from c360.sources.base import RAW_PREFIX, RowBatch
from c360.stream.settings import RawSinkSettings
from c360.stream.transports.base import EVENT_ID

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

log = logging.getLogger("c360.stream.raw_sink")
DESCRIPTION = "c360 stream run micro-batch"
RECENT_BATCHES = 8  # landings whose events a crash can have left unacknowledged


class RawSink:
    def __init__(self, catalog: SqlCatalog, lake_dir: Path, settings: RawSinkSettings | None = None) -> None:
        self.catalog = catalog
        self.lake_dir = Path(lake_dir)
        self.settings = settings or RawSinkSettings()
        with writer_lock(self.lake_dir, "c360 stream run (opening the raw sink)"):
            self.manifest = Manifest(manifest_table(catalog))
            recover(catalog, self.lake_dir, self.manifest)
        self.lander = Lander(catalog, self.lake_dir, self.manifest)
        self._pending: list[pa.Table] = []
        self.pending_events = 0
        self._oldest = 0.0  # monotonic time the oldest pending event arrived
        self.landed_events = 0
        self.batches: list[BatchRecord] = []
        self.busy = 0  # flushes put off because another process held the lake

    @property
    def source(self) -> str:
        return self.settings.source

    def already_landed(self) -> pa.Array:
        """Event ids of this source's latest stream landings (see the module docstring)."""
        rows = read_arrow(self.manifest.table, f"source == '{self.source}'")
        rows = rows.filter(pc.equal(rows["description"], DESCRIPTION))
        raw = load_table(self.catalog, f"raw.{self.source}")
        if rows.num_rows == 0 or raw is None:
            return pa.array([], pa.string())
        order = pc.sort_indices(rows, [("received_at", "descending")])
        recent = rows.take(order)["batch_id"].to_pylist()[:RECENT_BATCHES]
        scan = raw.scan(row_filter=In(f"{RAW_PREFIX}batch_id", recent), selected_fields=(EVENT_ID,))
        return scan.to_arrow()[EVENT_ID].combine_chunks()

    def add(self, events: pa.Table) -> None:
        if events.num_rows == 0:
            return
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append(events)
        self.pending_events += events.num_rows

    def due(self) -> bool:
        s = self.settings
        return bool(self._pending) and (
            self.pending_events >= s.every_events or time.monotonic() - self._oldest >= s.every_seconds
        )

    def flush(self) -> bool:
        """Land what is pending as one batch; False when the lake is busy (the events keep waiting)."""
        if not self._pending:
            return True
        table = pa.concat_tables(self._pending)
        table = table.take(pc.sort_indices(table, [(EVENT_ID, "ascending")])).combine_chunks()
        ids = table[EVENT_ID]
        digest = hashlib.sha256("\n".join(ids.to_pylist()).encode()).hexdigest()
        state = {"first_event_id": ids[0].as_py(), "last_event_id": ids[-1].as_py(), "event_ids": digest}
        try:
            with writer_lock(self.lake_dir, "c360 stream run (landing a micro-batch)"):
                self.manifest.table.refresh()
                record = self.lander.land_rows(
                    self.source, RowBatch(data=table, state=state, description=DESCRIPTION)
                )
        except LakeBusyError as exc:
            self.busy += 1
            log.warning("raw sink: %d events wait, %s", self.pending_events, str(exc).splitlines()[0])
            return False
        if record is not None:
            self.batches.append(record)
            self.landed_events += record.rows
        self._pending, self.pending_events = [], 0
        return True

    def close(self) -> None:
        if self._pending and not self.flush():
            log.error("raw sink closed with %d events not landed (lake busy)", self.pending_events)
