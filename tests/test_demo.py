"""`c360 demo`: every simulated source lands, record for record, through the connectors."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from c360.config import load_project
from c360.demo import LIVE_TRANSACTIONS, TRANSACTIONS_PER_ACCOUNT, run_demo
from c360.errors import C360Error
from c360.lake.catalog import open_catalog
from c360.lake.query import run_query


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo") / "project"
    run_demo(directory, customers=1_500, seed=11)
    return directory


def manifest(directory: Path) -> dict[str, tuple[int, int]]:
    rows = run_query(
        open_catalog(load_project(directory)),
        "SELECT source, sum(rows) AS rows, sum(rejected) AS rejected FROM raw.batches GROUP BY source",
    ).to_pylist()
    return {r["source"]: (r["rows"], r["rejected"]) for r in rows}


def test_every_record_of_every_source_lands(demo: Path) -> None:
    truth = json.loads((demo / "sources" / "_truth" / "summary.json").read_text())
    landed = manifest(demo)
    for source, lines in truth["rows"].items():
        assert landed[source][0] == lines, source
    accounts = len((demo / "sources" / "accounts" / "account_20240520.csv").read_text().splitlines())
    assert landed["transactions"][0] > TRANSACTIONS_PER_ACCOUNT * accounts
    table_rows = run_query(
        open_catalog(load_project(demo)), "SELECT count(*) AS n, max(trans_id) AS top FROM raw.transactions"
    ).to_pylist()[0]
    assert table_rows["n"] == table_rows["top"] == landed["transactions"][0]


def test_malformed_lines_are_the_rejected_records(demo: Path) -> None:
    with open(demo / "sources" / "_truth" / "dirt.csv", newline="") as handle:
        malformed = Counter(
            row["source"] for row in csv.DictReader(handle) if row["kind"].startswith("malformed")
        )
    landed = manifest(demo)
    for source, count in malformed.items():
        if source == "clickstream":
            # An unclosed quote also swallows the next line, which lands rejected with it.
            assert count <= landed[source][1] <= 2 * count
        else:
            assert landed[source][1] == count, source


def test_live_writer_rows_land_incrementally(demo: Path) -> None:
    batches = run_query(
        open_catalog(load_project(demo)),
        "SELECT rows, state FROM raw.batches WHERE source = 'transactions' ORDER BY received_at",
    ).to_pylist()
    assert len(batches) == 2
    assert batches[1]["rows"] == LIVE_TRANSACTIONS
    first, second = (json.loads(b["state"])["watermark"] for b in batches)
    assert second - first == LIVE_TRANSACTIONS


def test_demo_never_deletes_a_directory_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(C360Error, match="not made by `c360 demo`"):
        run_demo(tmp_path, customers=10, seed=1)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_stage_reconciles_every_demo_batch(demo: Path) -> None:
    catalog = open_catalog(load_project(demo))
    batches = run_query(
        catalog,
        "SELECT s.source, s.raw_rows, s.stage_rows, s.quarantine_rows, r.rows AS landed "
        "FROM stage.batches s JOIN raw.batches r USING (batch_id)",
    ).to_pylist()
    assert len(batches) == len(run_query(catalog, "SELECT batch_id FROM raw.batches").to_pylist())
    assert all(b["raw_rows"] == b["landed"] == b["stage_rows"] + b["quarantine_rows"] for b in batches)
    unparseable = run_query(
        catalog, "SELECT count(*) AS n FROM quarantine.accounts WHERE rule = 'unparseable'"
    ).to_pylist()
    assert unparseable == [{"n": manifest(demo)["accounts"][1]}]
