"""The core-banking writer: right row counts, reproducible, and balances that add up.

Every test runs on PostgreSQL (a fresh uniquely named table in database ``test``, dropped
afterwards) and on SQLite (a file in tmp_path). Rows are read back with psycopg / sqlite3, not
with c360's connector, so the writer is checked independently of it.
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

import numpy as np
import pytest

from c360.errors import C360Error
from c360.simulate.transactions_db import create_schema, follow, read_account_ids, run, write_transactions

ACCOUNTS = np.arange(1, 201, dtype=np.int64)
DEBIT_OPERATIONS = {"CCW", "WCA", "RAB"}
CREDIT_OPERATIONS = {"CCK", "CAB"}


@dataclass
class Db:
    url: str
    table: str

    def rows(self) -> dict[str, np.ndarray]:
        """The whole table in trans_id order, one array per column."""
        sql = (
            f'SELECT trans_id, account_id, date, type, operation, amount, balance FROM "{self.table}" '
            "ORDER BY trans_id"
        )
        if self.url.startswith("sqlite"):
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as conn:
                records = conn.execute(sql).fetchall()
            records = [(*r[:2], datetime.fromisoformat(r[2]), *r[3:]) for r in records]
        else:
            import psycopg

            with psycopg.connect(self.url) as conn:
                records = conn.execute(sql).fetchall()
        names = ["trans_id", "account_id", "date", "type", "operation", "amount", "balance"]
        columns = list(zip(*records, strict=True)) if records else [[] for _ in names]
        return {name: np.array(values) for name, values in zip(names, columns, strict=True)}


def _drop(url: str, table: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{table}"')


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "sqlite":
        yield Db(f"sqlite:///{tmp_path / 'core.db'}", "transactions")
        return
    url = request.getfixturevalue("postgres_url")
    table = f"c360_test_tx_{uuid.uuid4().hex[:12]}"
    yield Db(url, table)
    _drop(url, table)


@pytest.fixture
def other_db(db: Db, tmp_path: Path) -> Iterator[Db]:
    """A second, empty table of the same kind, to compare two runs."""
    if db.url.startswith("sqlite"):
        yield Db(f"sqlite:///{tmp_path / 'other.db'}", "transactions")
        return
    other = Db(db.url, f"c360_test_tx_{uuid.uuid4().hex[:12]}")
    yield other
    _drop(other.url, other.table)


def assert_ledger_consistent(rows: dict[str, np.ndarray]) -> None:
    """Per account, in trans_id order: balance = previous balance ± amount; codes fit the type."""
    debit = rows["type"] == "debit"
    assert set(rows["type"]) <= {"debit", "credit"}
    assert set(rows["operation"][debit]) <= DEBIT_OPERATIONS
    assert set(rows["operation"][~debit]) <= CREDIT_OPERATIONS
    assert (rows["amount"] > 0).all()
    signed = np.where(debit, -rows["amount"], rows["amount"])
    order = np.lexsort((rows["trans_id"], rows["account_id"]))
    account, balance, signed = rows["account_id"][order], rows["balance"][order], signed[order]
    same_account = account[1:] == account[:-1]
    np.testing.assert_array_equal((balance[1:] - balance[:-1])[same_account], signed[1:][same_account])
    # trans_id follows date: a later movement never gets a smaller id.
    assert (np.diff(rows["date"].astype("datetime64[us]")) >= np.timedelta64(0, "us")).all()


def test_writes_the_requested_rows_and_balances_add_up_across_calls(db: Db) -> None:
    assert write_transactions(db.url, ACCOUNTS, 20_000, seed=7, table=db.table) == 20_000
    first = db.rows()
    assert write_transactions(db.url, ACCOUNTS, 5_000, seed=8, table=db.table) == 5_000
    rows = db.rows()

    np.testing.assert_array_equal(rows["trans_id"], np.arange(1, 25_001))
    assert set(rows["account_id"]) <= set(ACCOUNTS.tolist())
    assert len(set(rows["account_id"])) == ACCOUNTS.size  # 125 rows per account: all get some
    # The second call continues each account from its last balance and after the last date.
    assert_ledger_consistent(rows)
    assert rows["date"][20_000] > first["date"][-1]
    # A new account opens with enough money for its first movements.
    assert first["balance"].min() >= 100
    # Tens of movements per account per month, as in a real current account.
    months = rows["date"].astype("datetime64[M]")
    _, counts = np.unique(np.stack([rows["account_id"], months.astype(np.int64)]), axis=1, return_counts=True)
    assert 10 <= np.median(counts) <= 60
    assert first["date"][0] >= datetime(2024, 1, 1)
    assert (rows["operation"] == "CCW").mean() > 0.4  # card payments dominate, as they should


def test_same_seed_same_rows_other_seed_other_rows(db: Db, other_db: Db) -> None:
    write_transactions(db.url, ACCOUNTS, 3_000, seed=42, table=db.table)
    write_transactions(other_db.url, ACCOUNTS, 3_000, seed=42, table=other_db.table)
    one, two = db.rows(), other_db.rows()
    for column in one:
        np.testing.assert_array_equal(one[column], two[column])

    write_transactions(
        other_db.url, ACCOUNTS, 3_000, seed=43, table=other_db.table, start=datetime(2024, 1, 1)
    )
    three = {k: v[3_000:] for k, v in other_db.rows().items()}
    assert not np.array_equal(one["account_id"], three["account_id"])
    assert not np.array_equal(one["amount"], three["amount"])


def test_follow_keeps_inserting_committed_rows_until_stopped(db: Db) -> None:
    write_transactions(db.url, ACCOUNTS, 2_000, seed=1, table=db.table)
    before = db.rows()

    inserted = follow(db.url, ACCOUNTS, rows_per_second=2_000, seed=2, duration=0.5, table=db.table)
    assert 600 <= inserted <= 1_100
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(follow(db.url, ACCOUNTS, 1_000, seed=3, stop=stop, table=db.table))
    )
    thread.start()
    time.sleep(0.3)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()

    rows = db.rows()
    assert rows["trans_id"].size == 2_000 + inserted + result[0]
    assert result[0] > 0
    assert_ledger_consistent(rows)  # continues the bulk history's balances
    assert rows["date"][2_000] > before["date"][-1]


def test_create_schema_is_idempotent(db: Db) -> None:
    create_schema(db.url, table=db.table)
    create_schema(db.url, table=db.table)
    assert db.rows()["trans_id"].size == 0


def test_run_reads_account_ids_from_a_headerless_accounts_csv(tmp_path: Path) -> None:
    accounts = tmp_path / "account0020240523-063958.csv"
    accounts.write_text(
        "1,301,WI,2023-08-10T06:39:58.182050\n2,71,MI,2022-06-08T06:39:58.182084\n"
        "3,206,MI,2024-02-28T06:39:58.182096\n\n",
        encoding="utf-8",
    )
    np.testing.assert_array_equal(read_account_ids(accounts), [1, 2, 3])
    np.testing.assert_array_equal(read_account_ids(tmp_path), [1, 2, 3])  # a folder of extracts

    url = f"sqlite:///{tmp_path / 'bank.db'}"
    assert run(url, accounts, rows=500, seed=5) == 500
    rows = Db(url, "transactions").rows()
    assert set(rows["account_id"]) == {1, 2, 3}
    assert_ledger_consistent(rows)


def test_bad_inputs_are_reported_with_what_to_do(tmp_path: Path) -> None:
    bad = tmp_path / "accounts.csv"
    bad.write_text("account_id,branch_id\n1,2\n", encoding="utf-8")
    with pytest.raises(C360Error, match=r"accounts.csv:1: account id 'account_id' is not an integer"):
        read_account_ids(bad)
    with pytest.raises(C360Error, match="postgresql://"):
        write_transactions("mysql://localhost/bank", ACCOUNTS, 10, seed=1)
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE transactions (id INTEGER)")
    with pytest.raises(C360Error, match=r"writing table 'transactions' of .*other\.db failed"):
        write_transactions(f"sqlite:///{tmp_path / 'other.db'}", ACCOUNTS, 10, seed=1)
    with pytest.raises(C360Error, match="no account ids"):
        write_transactions(f"sqlite:///{tmp_path / 'x.db'}", np.array([], dtype=np.int64), 10, seed=1)
