"""The core-banking table lands incrementally through `c360 ingest`, its watermark kept in the lake,
while the writer keeps inserting."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest

from c360.config import load_project
from c360.lake.catalog import open_catalog
from c360.lake.query import run_query
from c360.raw.ingest import ingest
from c360.simulate.transactions_db import follow, write_transactions
from tests.projects import write_project

ACCOUNTS = np.arange(1, 201, dtype=np.int64)


def landed_ids(project) -> list[int]:
    rows = run_query(open_catalog(project), "SELECT trans_id FROM raw.transactions ORDER BY trans_id")
    return rows.column("trans_id").to_pylist()


@pytest.mark.postgres
def test_ten_incremental_ingests_during_writes_lose_and_repeat_nothing(
    tmp_path: Path, postgres_url: str
) -> None:
    table = f"transactions_{uuid.uuid4().hex[:8]}"
    try:
        write_transactions(postgres_url, ACCOUNTS, 5_000, seed=1, table=table)
        config = f"""
[sources.transactions]
kind = "sql_database"
url = "{postgres_url}"
table = "{table}"
watermark = "trans_id"
batch_rows = 700
"""
        project = load_project(write_project(tmp_path, config))
        first = ingest(project)
        assert first.sources[0].rows == 5_000 and first.sources[0].batches == 8

        stop = threading.Event()
        writer = threading.Thread(
            target=follow, args=(postgres_url, ACCOUNTS, 4_000, 2), kwargs={"stop": stop, "table": table}
        )
        writer.start()
        try:
            runs = [ingest(load_project(project.root)).sources[0].rows for _ in range(10)]
        finally:
            stop.set()
            writer.join()
        runs.append(ingest(load_project(project.root)).sources[0].rows)
        assert sum(runs) > 0

        with psycopg.connect(postgres_url) as con:
            expected = [r[0] for r in con.execute(f"SELECT trans_id FROM {table} ORDER BY trans_id")]
        ids = landed_ids(project)
        assert ids == expected
        assert len(ids) == len(set(ids)) == 5_000 + sum(runs)
        assert ingest(load_project(project.root)).sources[0].batches == 0
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as con:
            con.execute(f"DROP TABLE IF EXISTS {table}")


def test_sqlite_database_relative_to_the_project(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        '[sources.tx]\nkind = "sql_database"\nurl = "sqlite:///bank.db"\n'
        'table = "transactions"\nwatermark = "trans_id"\n',
    )
    write_transactions(f"sqlite:///{tmp_path / 'bank.db'}", ACCOUNTS, 1_234, seed=3)
    project = load_project(tmp_path)
    assert ingest(project).sources[0].rows == 1_234
    types = run_query(
        open_catalog(project), "SELECT typeof(trans_id) AS t, typeof(amount) AS a FROM raw.tx LIMIT 1"
    ).to_pylist()
    assert types == [{"t": "BIGINT", "a": "BIGINT"}]
