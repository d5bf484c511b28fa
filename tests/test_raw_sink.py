"""The micro-batch sink: events land in raw.clickstream every N events or N seconds, through the raw
zone's landing (manifest row, stage picks them up), the same events never twice, and a busy lake
makes events wait instead of failing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from c360.config import load_project
from c360.lake.catalog import open_lake_catalog
from c360.lake.lock import writer_lock
from c360.lake.tables import load_table
from c360.raw.manifest import manifest_table
from c360.stage.runner import stage
from c360.stream.raw_sink import DESCRIPTION, RawSink
from c360.stream.settings import RawSinkSettings
from c360.stream.transports.base import EVENT_ID, _Ids, to_wire
from tests.test_transports import events


def wire(n: int, start: int = 0) -> pa.Table:
    return to_wire(events(n, start), _Ids())


def raw_rows(lake: Path) -> pa.Table:
    return load_table(open_lake_catalog(lake), "raw.clickstream").scan().to_arrow()


def test_events_land_every_m_events_or_n_seconds_with_a_manifest_row(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    sink = RawSink(open_lake_catalog(lake), lake, RawSinkSettings(every_events=100, every_seconds=0.3))
    sink.add(wire(60))
    assert not sink.due()
    sink.add(wire(40, start=60))
    assert sink.due()  # 100 events
    assert sink.flush()
    sink.add(wire(10, start=100))
    assert not sink.due()
    time.sleep(0.35)
    assert sink.due()  # 0.3 s since the oldest waiting event
    assert sink.flush()
    assert [b.rows for b in sink.batches] == [100, 10] and sink.landed_events == 110
    rows = raw_rows(lake)
    assert sorted(rows[EVENT_ID].to_pylist()) == [f"e{i:06d}" for i in range(110)]
    assert rows.filter(pc.equal(rows[EVENT_ID], "e000007")).to_pylist()[0]["user_id"] == "507"
    manifest = manifest_table(open_lake_catalog(lake)).scan().to_arrow().sort_by("received_at").to_pylist()
    assert [(m["source"], m["kind"], m["rows"], m["description"]) for m in manifest] == [
        ("clickstream", "rows", 100, DESCRIPTION), ("clickstream", "rows", 10, DESCRIPTION),
    ]  # fmt: skip
    state = json.loads(manifest[0]["state"])
    assert (state["first_event_id"], state["last_event_id"]) == ("e000000", "e000099")


def test_the_same_events_land_once_whatever_their_order_and_are_known_after_a_restart(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    catalog = open_lake_catalog(lake)
    sink = RawSink(catalog, lake)
    batch = wire(50)
    sink.add(batch)
    assert sink.flush()
    sink.add(batch.take(pa.array(list(range(49, -1, -1)))))  # redelivered, in another order
    assert sink.flush()
    assert len(sink.batches) == 1 and raw_rows(lake).num_rows == 50
    restarted = RawSink(catalog, lake)
    assert sorted(restarted.already_landed().to_pylist()) == [f"e{i:06d}" for i in range(50)]


def test_a_busy_lake_makes_events_wait_for_the_next_flush(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    sink = RawSink(open_lake_catalog(lake), lake)
    sink.add(wire(20))
    with writer_lock(lake, "c360 ingest (test)"):
        assert not sink.flush()
    assert (
        sink.busy == 1
        and sink.pending_events == 20
        and load_table(open_lake_catalog(lake), "raw.clickstream") is None
    )
    assert sink.flush()
    assert raw_rows(lake).num_rows == 20 and sink.pending_events == 0


def test_stage_picks_up_streamed_batches_and_quarantines_their_bad_events(tmp_path: Path) -> None:
    directory = tmp_path / "p"
    directory.mkdir()
    (directory / "c360.toml").write_text(
        '[sources.clickstream]\nkind = "delimited"\npath = "clickstream/*.csv"\n', encoding="utf-8"
    )
    project = load_project(directory)
    good = events(30)
    for e in good:
        e["category_id"] = "2053013555631882655"
    bad = {**good[0], "event_id": "bad", "event_type": "teleport"}
    sink = RawSink(open_lake_catalog(project.lake_dir), project.lake_dir)
    sink.add(to_wire([*good, bad], _Ids()))
    assert sink.flush()
    result = stage(project, ["clickstream"])
    staged = result.sources[0]
    assert (staged.stage_rows, staged.quarantine_rows) == (30, 1)
