"""A build killed part way and run again gives the tables of an uninterrupted build; a reader
during a build always sees a complete customer_360."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from c360.config import load_project
from c360.demo import run_demo
from c360.lake.catalog import open_catalog
from c360.lake.query import run_query
from c360.lake.tables import load_table
from c360.modeling import build
from c360.simulate.transactions_db import read_account_ids, write_transactions
from c360.stage.runner import stage

ANALYTICS = "SELECT * FROM analytics.{} ORDER BY ALL"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("build") / "project"
    run_demo(directory, customers=3_000, seed=8)
    return directory


def analytics_tables(directory: Path) -> dict[str, pa.Table]:
    catalog = open_catalog(load_project(directory))
    return {
        ident[-1]: run_query(catalog, ANALYTICS.format(ident[-1]))
        for ident in catalog.list_tables("analytics")
    }


def snapshot_ids(directory: Path, name: str) -> set[int]:
    table = load_table(open_catalog(load_project(directory)), name)
    return {s.snapshot_id for s in table.snapshots()} if table is not None else set()


def test_rebuild_with_no_new_data_gives_identical_tables(demo: Path) -> None:
    before = analytics_tables(demo)
    build(load_project(demo))
    after = analytics_tables(demo)
    assert before.keys() == after.keys() and len(before) >= 20
    for name, table in before.items():
        assert table.equals(after[name]), name


def test_killed_build_then_rerun_equals_an_uninterrupted_build(demo: Path) -> None:
    project = load_project(demo)
    financial_before = analytics_tables(demo)["dim_financial"]
    bank = f"sqlite:///{demo / 'sources' / 'bank.db'}"
    write_transactions(bank, read_account_ids(demo / "sources" / "accounts"), 5_000, seed=21)
    from c360.raw.ingest import ingest

    ingest(project, ["transactions"])
    stage(project, ["transactions"])
    first_model, last_model = "analytics.int_clients", "analytics.customer_360"
    first_before, last_before = snapshot_ids(demo, first_model), snapshot_ids(demo, last_model)
    customers = run_query(
        open_catalog(project), "SELECT count(*) AS n FROM analytics.customer_360"
    ).to_pylist()

    seen: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        # New data can add a snapshot date (a new partition of the history): every partition a
        # reader sees must hold every customer.
        while not stop.is_set():
            rows = run_query(
                open_catalog(load_project(demo)),
                "SELECT snapshot_date, count(*) AS n FROM analytics.customer_360 GROUP BY snapshot_date",
            )
            seen.extend(row["n"] for row in rows.to_pylist())

    watcher = threading.Thread(target=reader)
    watcher.start()
    process = subprocess.Popen(
        [sys.executable, "-m", "c360", "build", "--dir", str(demo)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and snapshot_ids(demo, first_model) == first_before:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert snapshot_ids(demo, first_model) != first_before, "the build never started committing"
    assert snapshot_ids(demo, last_model) == last_before, "the build finished before it was killed"

    build(project)
    stop.set()
    watcher.join()
    recovered = analytics_tables(demo)
    build(project)
    uninterrupted = analytics_tables(demo)
    for name, table in uninterrupted.items():
        assert table.equals(recovered[name]), name
    assert set(seen) == {customers[0]["n"]} and len(seen) > 1
    assert not recovered["dim_financial"].equals(financial_before), "the new transactions were not built"
