"""The sql_database connector against a real PostgreSQL and a real SQLite file.

What must hold: every row arrives exactly once across incremental runs — also while a writer
inserts concurrently, and also when a run stops after any batch — with the source's own types,
and failures name the source, the place and the fix.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from c360.config import SqlDatabaseSource
from c360.errors import SourceError
from c360.simulate.transactions_db import follow, write_transactions
from c360.sources.base import RowBatch
from c360.sources.sql_database import SqlDatabaseConnector, chunk_by_watermark, parse_database_url

ACCOUNTS = np.arange(1, 101, dtype=np.int64)


@dataclass
class Db:
    """One database under test: its URL, a fresh table name, and direct SQL for set-up/checks."""

    url: str
    table: str
    created: list[str]

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def execute(self, sql: str, rows: list[tuple[Any, ...]] | None = None) -> list[tuple[Any, ...]]:
        if self.is_sqlite:
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as conn:
                if rows is not None:
                    conn.executemany(sql, rows)
                    return []
                return conn.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn, conn.cursor() as cursor:
            if rows is not None:
                cursor.executemany(sql.replace("?", "%s"), rows)
                return []
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def new_table(self) -> str:
        name = f"c360_test_sql_{uuid.uuid4().hex[:12]}"
        self.created.append(name)
        return name

    def connector(self, table: str | None = None, watermark: str = "trans_id", batch_rows: int = 1_000_000):
        settings = SqlDatabaseSource(
            kind="sql_database",
            url=self.url,
            table=table or self.table,
            watermark=watermark,
            batch_rows=batch_rows,
        )
        return SqlDatabaseConnector("core_banking", settings)


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "sqlite":
        handle = Db(f"sqlite:///{tmp_path / 'core.db'}", "", [])
    else:
        handle = Db(request.getfixturevalue("postgres_url"), "", [])
    handle.table = handle.new_table()
    yield handle
    if not handle.is_sqlite:
        for name in handle.created:
            handle.execute(f'DROP TABLE IF EXISTS "{name}"')


def extract(connector: SqlDatabaseConnector, state: dict[str, Any]) -> tuple[list[RowBatch], dict[str, Any]]:
    """All batches of one run, and the state after the last one (unchanged when none)."""
    batches = list(connector.extract(state))
    return batches, (batches[-1].state if batches else state)


def ids(batches: list[RowBatch]) -> list[int]:
    return [i for b in batches for i in pa.table(b.data).column("trans_id").to_pylist()]


def test_first_extraction_gets_every_row_with_the_source_types(db: Db) -> None:
    write_transactions(db.url, ACCOUNTS, 3_000, seed=1, table=db.table)
    batches, state = extract(db.connector(), {})

    assert len(batches) == 1
    data = batches[0].data
    assert isinstance(data, pa.Table)
    integer = pa.int64() if db.is_sqlite else pa.int32()  # SQLite INTEGER is 64-bit, int4 is 32
    assert [(f.name, f.type) for f in data.schema] == [
        ("trans_id", integer),
        ("account_id", integer),
        ("date", pa.timestamp("us")),
        ("type", pa.string()),
        ("operation", pa.string()),
        ("amount", integer),
        ("balance", integer),
    ]
    assert data.column("trans_id").to_pylist() == list(range(1, 3_001))
    assert state == {"watermark": 3_000}
    assert batches[0].description == f"3,000 rows of {db.table} with trans_id in (start, 3000]"
    # Values are the table's, row for row (checked against a plain SQL read).
    expected = db.execute(f'SELECT trans_id, account_id, amount, balance, type FROM "{db.table}" ORDER BY 1')
    got = data.select(["trans_id", "account_id", "amount", "balance", "type"]).to_pylist()
    assert [tuple(row.values()) for row in got] == [tuple(row) for row in expected]
    first_date = db.execute(f'SELECT date FROM "{db.table}" WHERE trans_id = 1')[0][0]
    assert str(data.column("date")[0].as_py()).replace("T", " ") == str(first_date).replace("T", " ")


def test_incremental_extraction_gets_exactly_the_new_rows(db: Db) -> None:
    write_transactions(db.url, ACCOUNTS, 2_000, seed=1, table=db.table)
    _, state = extract(db.connector(), {})

    batches, again = extract(db.connector(), state)
    assert batches == [] and again == state  # nothing new: no batch, state unchanged

    write_transactions(db.url, ACCOUNTS, 700, seed=2, table=db.table)
    batches, state = extract(db.connector(), state)
    assert ids(batches) == list(range(2_001, 2_701))
    assert state == {"watermark": 2_700}


@pytest.mark.parametrize("watermark", ["trans_id", "date"])
def test_batches_of_batch_rows_each_resumable(db: Db, watermark: str) -> None:
    write_transactions(db.url, ACCOUNTS, 3_000, seed=3, table=db.table)
    connector = db.connector(watermark=watermark, batch_rows=700)
    batches = list(connector.extract({}))

    assert [b.data.num_rows for b in batches] == [700, 700, 700, 700, 200]
    assert ids(batches) == list(range(1, 3_001))
    for number, batch in enumerate(batches):
        last = pa.table(batch.data).column(watermark)[-1].as_py()
        saved = batch.state["watermark"]
        assert list(batch.state) == ["watermark"]
        assert (saved if watermark == "trans_id" else datetime.fromisoformat(saved)) == last
        # A crash after this batch: the next run gets exactly the rows after it.
        rest, _ = extract(connector, batch.state)
        assert ids(rest) == list(range(700 * (number + 1) + 1, 3_001))


def test_equal_watermarks_never_straddle_two_batches(db: Db) -> None:
    table = db.new_table()
    db.execute(f'CREATE TABLE "{table}" (trans_id integer, grp integer, label varchar(20))')
    # Cut 1 falls inside the run of 2s (cut before it), cut 3 inside the 4s, longer than a batch.
    groups = [1, 1, 2, 2, 2, 3, 4, 4, 4, 4, 4, 5, 6, 6]
    db.execute(
        f'INSERT INTO "{table}" VALUES (?, ?, ?)', [(i, g, f"row {i}") for i, g in enumerate(groups, 1)]
    )
    connector = db.connector(table=table, watermark="grp", batch_rows=3)

    batches = list(connector.extract({}))
    seen = [pa.table(b.data).column("grp").to_pylist() for b in batches]
    assert seen == [[1, 1], [2, 2, 2], [3], [4, 4, 4, 4, 4], [5, 6, 6]]
    assert [b.state for b in batches] == [{"watermark": g} for g in (1, 2, 3, 4, 6)]
    for number, batch in enumerate(batches):
        rest = list(connector.extract(batch.state))
        assert sum(b.data.num_rows for b in rest) == sum(len(s) for s in seen[number + 1 :])


def test_a_run_of_equal_watermarks_spanning_driver_batches_stays_whole() -> None:
    schema = pa.schema([("wm", pa.int64())])
    stream = [
        pa.record_batch([pa.array(v, pa.int64())], schema=schema) for v in ([1, 1], [1, 1], [1, 2], [3])
    ]
    chunks = list(chunk_by_watermark(iter(stream), schema, 0, batch_rows=2))
    assert [c.column("wm").to_pylist() for c in chunks] == [[1, 1, 1, 1, 1], [2, 3]]


def test_text_watermark_with_quotes(db: Db) -> None:
    table = db.new_table()
    db.execute(f'CREATE TABLE "{table}" (trans_id integer, code varchar(20))')
    codes = ["a'1", "b\\2", 'c"3', "d;4"]
    db.execute(f'INSERT INTO "{table}" VALUES (?, ?)', [(i, c) for i, c in enumerate(codes, 1)])
    connector = db.connector(table=table, watermark="code", batch_rows=2)
    batches, state = extract(connector, {})
    assert ids(batches) == [1, 2, 3, 4] and state == {"watermark": "d;4"}
    rest, _ = extract(connector, {"watermark": "b\\2"})
    assert ids(rest) == [3, 4]


def test_no_row_lost_or_duplicated_while_a_writer_inserts(db: Db) -> None:
    write_transactions(db.url, ACCOUNTS, 1_000, seed=4, table=db.table)
    stop = threading.Event()
    written: list[int] = []
    writer = threading.Thread(
        target=lambda: written.append(
            follow(db.url, ACCOUNTS, 5_000, seed=5, stop=stop, table=db.table, tick_seconds=0.01)
        )
    )
    writer.start()
    extracted: list[int] = []
    state: dict[str, Any] = {}
    runs_with_rows = 0
    try:
        for _ in range(10):
            batches, state = extract(db.connector(batch_rows=400), state)
            runs_with_rows += bool(batches)
            extracted += ids(batches)
            time.sleep(0.05)
    finally:
        stop.set()
        writer.join(timeout=10)
    batches, state = extract(db.connector(batch_rows=400), state)
    extracted += ids(batches)

    in_table = [row[0] for row in db.execute(f'SELECT trans_id FROM "{db.table}" ORDER BY 1')]
    assert written[0] > 500 and runs_with_rows >= 8  # the writer really ran during the runs
    assert len(extracted) == len(set(extracted))  # none duplicated
    assert sorted(extracted) == in_table  # none lost
    assert state == {"watermark": in_table[-1]}


def test_unreachable_server_names_the_source_and_what_to_do() -> None:
    settings = SqlDatabaseSource(
        kind="sql_database", url="postgresql://postgres:secret@127.0.0.1:1/test", table="t", watermark="id"
    )
    with pytest.raises(SourceError) as caught:
        list(SqlDatabaseConnector("core_banking", settings).extract({}))
    assert caught.value.source == "core_banking"
    assert "127.0.0.1:1/test" in str(caught.value)
    assert "is PostgreSQL running at 127.0.0.1:1" in (caught.value.hint or "")
    assert "secret" not in str(caught.value)


@pytest.mark.postgres
def test_missing_database_names_it(postgres_url: str) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/c360_no_such_db"
    settings = SqlDatabaseSource(kind="sql_database", url=url, table="t", watermark="id")
    with pytest.raises(SourceError, match="c360_no_such_db") as caught:
        list(SqlDatabaseConnector("core_banking", settings).extract({}))
    assert "create database 'c360_no_such_db'" in (caught.value.hint or "")


def test_missing_table_and_column_list_what_exists(db: Db) -> None:
    write_transactions(db.url, ACCOUNTS, 10, seed=1, table=db.table)
    with pytest.raises(SourceError, match="no table 'no_such_table'") as caught:
        list(db.connector(table="no_such_table").extract({}))
    assert caught.value.source == "core_banking"
    assert db.table in (caught.value.hint or "")

    with pytest.raises(SourceError, match="has no column 'updated_at'") as caught:
        list(db.connector(watermark="updated_at").extract({}))
    assert "trans_id, account_id, date, type, operation, amount, balance" in (caught.value.hint or "")

    with pytest.raises(SourceError, match="saved watermark 'yesterday' does not fit column 'trans_id'"):
        list(db.connector().extract({"watermark": "yesterday"}))


def test_sqlite_missing_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    settings = SqlDatabaseSource(kind="sql_database", url=f"sqlite:///{path}", table="t", watermark="id")
    with pytest.raises(SourceError, match="does not exist"):
        list(SqlDatabaseConnector("core_banking", settings).extract({}))
    assert not path.exists()


def test_sqlite_declared_types_hold_when_the_first_rows_are_null(tmp_path: Path) -> None:
    # The driver infers types from the first rows: a text column NULL there would become int64.
    path = tmp_path / "sparse.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT, opened DATE, score REAL)")
        conn.executemany("INSERT INTO t VALUES (?, NULL, NULL, NULL)", [(i,) for i in range(1, 70_001)])
        conn.execute("INSERT INTO t VALUES (70001, 'late', '2024-02-29', 3)")
    settings = SqlDatabaseSource(kind="sql_database", url=f"sqlite:///{path}", table="t", watermark="id")
    data = pa.concat_tables(b.data for b in SqlDatabaseConnector("s", settings).extract({}))
    assert data.schema.types == [pa.int64(), pa.string(), pa.date32(), pa.float64()]
    assert data.slice(70_000).to_pylist()[0]["note"] == "late"
    assert str(data.column("opened")[70_000]) == "2024-02-29"
    assert data.column("score")[70_000].as_py() == 3.0


def test_a_batch_that_fails_mid_read_is_never_yielded(tmp_path: Path) -> None:
    # A REAL in an INTEGER column, past the driver's first 65,536 rows: the run yields the
    # complete batches before it, then fails; the batch being read is not yielded.
    path = tmp_path / "bad.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, amount INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, i) for i in range(1, 70_001)])
        conn.execute("UPDATE t SET amount = 2.5 WHERE id = 69000")
    settings = SqlDatabaseSource(
        kind="sql_database", url=f"sqlite:///{path}", table="t", watermark="id", batch_rows=10_000
    )
    yielded: list[RowBatch] = []
    with pytest.raises(SourceError, match="column 'amount' holds a value of another type") as caught:
        for batch in SqlDatabaseConnector("s", settings).extract({}):
            yielded.append(batch)
    assert "failed after 60,000 rows were delivered" in str(caught.value)
    assert [b.state for b in yielded] == [{"watermark": 10_000 * k} for k in range(1, 7)]
    assert all(b.data.num_rows == 10_000 for b in yielded)


def test_urls() -> None:
    pg = parse_database_url("postgresql+psycopg://me:pw@db.example:6543/bank")
    assert (pg.kind, pg.display) == ("postgresql", "db.example:6543/bank")
    assert "connect_timeout=10" in pg.uri and "pw" not in pg.display
    lite = parse_database_url("sqlite:///data/core.db", base_dir=Path("/srv/project"))
    assert lite.path == Path("/srv/project/data/core.db")
    assert parse_database_url("sqlite:////abs/core.db").path == Path("/abs/core.db")
    with pytest.raises(ValueError, match="sqlite:///path"):
        parse_database_url("sqlite:///:memory:")
