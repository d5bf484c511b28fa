"""The core-banking database of the reference company: the ``transactions`` table.

The reference system keeps card and account movements in PostgreSQL,
``transactions(trans_id serial primary key, account_id int, date timestamp, type varchar(10),
operation varchar(3), amount int, balance int)``, filled continuously by a writer. This module
plays that writer, into PostgreSQL or, when no PostgreSQL is at hand, into a SQLite file with the
same columns, so that the ``sql_database`` connector has a live system to extract from.

Rows are generated with NumPy a whole array at a time and inserted through ADBC bulk ingestion
(binary ``COPY`` on PostgreSQL), which is what makes hundreds of thousands of rows a second
possible. What they look like (the codes of the Berka bank data the reference drew on):

* ``type`` ``credit``: ``CAB`` collection from another bank (salaries, transfers in; large),
  ``CCK`` credit in cash; ``type`` ``debit``: ``CCW`` credit card withdrawal (frequent, small),
  ``WCA`` withdrawal in cash, ``RAB`` remittance to another bank.
* about 30 movements per account per month on average, some accounts much busier than others;
* ``balance`` is the account's running balance after the movement: for consecutive movements of
  one account (by ``trans_id``), ``balance = previous balance ± amount``, also across calls,
  because the writer continues from the last balance of each account already in the table;
* ``trans_id`` follows ``date``: a later movement always gets a larger id, as in a real ledger;
  that is also what makes ``trans_id`` a correct watermark for incremental extraction.
"""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import adbc_driver_manager
import numpy as np
import pyarrow as pa

from c360.errors import C360Error
from c360.sources.sql_database import DatabaseUrl, parse_database_url, quote_ident, split_table

DEFAULT_TABLE = "transactions"
# Where generated history starts when the table is empty and no start is given: a fixed date,
# so that the same seed always produces the same rows.
DEFAULT_START = datetime(2024, 1, 1)
MOVEMENTS_PER_ACCOUNT_PER_DAY = 1.0  # ≈ 30 a month
# What is inserted (trans_id comes from the database), in the order of the dates, so that
# `trans_id` (serial) grows with `date`.
ROW_SCHEMA = pa.schema(
    [
        ("account_id", pa.int32()),
        ("date", pa.timestamp("us")),
        ("type", pa.string()),
        ("operation", pa.string()),
        ("amount", pa.int32()),
        ("balance", pa.int32()),
    ]
)

_TYPES = pa.array(["debit", "credit"])
_OPERATIONS = pa.array(["CCW", "WCA", "RAB", "CCK", "CAB"])
_IS_CREDIT = np.array([False, False, False, True, True])
# How often each operation happens, and the median and spread (lognormal sigma) of its amount.
# Credits are rare and large, debits frequent and small, with a slight positive drift overall.
_OP_PROBABILITY = np.array([0.52, 0.22, 0.13, 0.06, 0.07])
_OP_MEDIAN = np.array([35.0, 150.0, 400.0, 450.0, 1_500.0])
_OP_SIGMA = np.array([0.9, 0.6, 0.7, 0.7, 0.5])


# ------------------------------------------------------------------------------------- schema


def _ddl(kind: str, table: str) -> list[str]:
    schema, name = split_table(table)
    target = quote_ident(name) if schema is None else f"{quote_ident(schema)}.{quote_ident(name)}"
    if kind == "postgresql":
        return [
            f"CREATE TABLE IF NOT EXISTS {target} (trans_id serial PRIMARY KEY, account_id int, "
            "date timestamp, type varchar(10), operation varchar(3), amount int, balance int)"
        ]
    # AUTOINCREMENT: ids are never reused, even after deletes, so the watermark only grows.
    # WAL: readers (the connector) and this writer do not block each other.
    return [
        "PRAGMA journal_mode = WAL",
        f"CREATE TABLE IF NOT EXISTS {target} (trans_id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "account_id INTEGER, date TIMESTAMP, type VARCHAR(10), operation VARCHAR(3), amount INTEGER, "
        "balance INTEGER)",
    ]


def _parse(url: str) -> DatabaseUrl:
    try:
        return parse_database_url(url)
    except ValueError as exc:
        raise C360Error(str(exc), hint="use postgresql://user@host:port/db or sqlite:///path.db") from None


def _connect(db: DatabaseUrl, *, create: bool = False) -> Any:
    """An ADBC connection, autocommit off (every insert is one committed transaction) unless
    ``create`` (DDL, and SQLite refuses to switch to WAL inside a transaction)."""
    try:
        if db.kind == "postgresql":
            import adbc_driver_postgresql.dbapi as pg_dbapi

            return pg_dbapi.connect(db.uri, autocommit=create)
        import adbc_driver_sqlite.dbapi as sqlite_dbapi

        assert db.path is not None
        if create:
            db.path.parent.mkdir(parents=True, exist_ok=True)
        elif not db.path.is_file():
            raise C360Error(
                f"SQLite database {db.path} does not exist", hint="run `c360 simulate transactions` first"
            )
        # create: a plain path may create the file; otherwise the URI's mode=rw never does.
        conn = sqlite_dbapi.connect(str(db.path) if create else db.uri, autocommit=create)
        cursor = conn.cursor()
        cursor.execute("PRAGMA busy_timeout = 10000")  # wait for a reader's checkpoint, don't fail
        cursor.fetchall()
        cursor.close()
        return conn
    except adbc_driver_manager.Error as exc:
        where = f"PostgreSQL at {db.display}" if db.kind == "postgresql" else f"SQLite file {db.display}"
        hint = (
            f"is PostgreSQL running at {db.host}:{db.port}? check the URL given with --db"
            if db.kind == "postgresql"
            else "check the path given with --db"
        )
        raise C360Error(f"cannot open {where}: {str(exc).strip()}", hint=hint) from None


def create_schema(url: str, *, table: str = DEFAULT_TABLE) -> None:
    """Create the transactions table if it does not exist (and WAL mode on SQLite)."""
    db = _parse(url)
    conn = _connect(db, create=True)
    try:
        cursor = conn.cursor()
        for statement in _ddl(db.kind, table):
            cursor.execute(statement)
            if statement.startswith("PRAGMA"):
                cursor.fetchall()
        cursor.close()
    finally:
        conn.close()


# --------------------------------------------------------------------------------- generation


@dataclass
class _Ledger:
    """What the writer must continue from: each account's balance and the last date."""

    account_ids: np.ndarray  # int32, unique
    weights: np.ndarray  # activity of each account, sums to 1
    balances: np.ndarray  # int64, balance after each account's last movement
    opened: np.ndarray  # bool, the account already has movements (its balance is fixed)
    last_date: np.datetime64 | None


def _ledger(cursor: Any, table: str, account_ids: np.ndarray, rng: np.random.Generator) -> _Ledger:
    """Read the last balance of every account and the last date, so new rows continue them."""
    ids = np.unique(np.asarray(account_ids, dtype=np.int64))
    if ids.size == 0:
        raise C360Error("no account ids to write transactions for", hint="give a non-empty accounts file")
    if ids.min() < -(2**31) or ids.max() >= 2**31:
        raise C360Error("account ids do not fit the int column account_id", hint="check the accounts file")
    # Drawn before anything depends on the table, so that a seed fixes them.
    weights = rng.gamma(2.0, 1.0, ids.size)
    balances = np.round(rng.lognormal(np.log(3_000.0), 0.8, ids.size)).astype(np.int64)

    schema, name = split_table(table)
    target = quote_ident(name) if schema is None else f"{quote_ident(schema)}.{quote_ident(name)}"
    cursor.execute(
        f"SELECT account_id, balance FROM {target} WHERE trans_id IN "
        f"(SELECT max(trans_id) FROM {target} GROUP BY account_id)"
    )
    previous = cursor.fetch_arrow_table()
    opened = np.zeros(ids.size, dtype=bool)
    if previous.num_rows:
        known = previous.column(0).to_numpy(zero_copy_only=False).astype(np.int64)
        position = np.searchsorted(ids, known)
        inside = (position < ids.size) & (ids[np.minimum(position, ids.size - 1)] == known)
        balances[position[inside]] = previous.column(1).to_numpy(zero_copy_only=False)[inside]
        opened[position[inside]] = True
    cursor.execute(f"SELECT max(date) FROM {target}")
    last = cursor.fetch_arrow_table().column(0)[0].as_py()
    if isinstance(last, str):  # SQLite stores the ISO text
        last = datetime.fromisoformat(last)
    last_date = None if last is None else np.datetime64(last, "us")
    return _Ledger(ids.astype(np.int32), weights / weights.sum(), balances, opened, last_date)


def _movements(rng: np.random.Generator, ledger: _Ledger, dates: np.ndarray) -> pa.Table:
    """Rows for ``dates`` (sorted datetime64[us]); updates ``ledger`` to the new balances."""
    n = dates.size
    if n == 0:
        return ROW_SCHEMA.empty_table()
    account = rng.choice(ledger.account_ids.size, size=n, p=ledger.weights)
    operation = rng.choice(len(_OPERATIONS), size=n, p=_OP_PROBABILITY)
    amount = np.maximum(
        1, np.round(_OP_MEDIAN[operation] * np.exp(rng.standard_normal(n) * _OP_SIGMA[operation]))
    ).astype(np.int64)
    credit = _IS_CREDIT[operation]
    signed = np.where(credit, amount, -amount)

    # Running balance per account, vectorized: group rows by account keeping date order, take
    # the cumulative sum, and subtract the sum reached before each group starts.
    order = np.argsort(account, kind="stable")
    grouped_account = account[order]
    grouped_signed = signed[order]
    total = np.cumsum(grouped_signed)
    starts = np.flatnonzero(np.r_[True, grouped_account[1:] != grouped_account[:-1]])
    lengths = np.diff(np.r_[starts, n])
    running = total - np.repeat(total[starts] - grouped_signed[starts], lengths)
    # A new account opens with enough money that its first movements don't overdraw it; one
    # with history continues from its last balance (and may dip below zero, as real ones do).
    first_accounts = grouped_account[starts]
    new = ~ledger.opened[first_accounts]
    lowest = np.minimum.reduceat(running, starts)
    ledger.balances[first_accounts[new]] = np.maximum(
        ledger.balances[first_accounts[new]], -lowest[new] + 100
    )
    ledger.opened[first_accounts] = True
    grouped_balance = ledger.balances[grouped_account] + running
    ends = np.r_[starts[1:], n] - 1
    ledger.balances[grouped_account[ends]] = grouped_balance[ends]
    balance = np.empty(n, dtype=np.int64)
    balance[order] = grouped_balance
    ledger.last_date = dates[-1]

    return pa.table(
        {
            "account_id": pa.array(ledger.account_ids[account], pa.int32()),
            "date": pa.array(dates, pa.timestamp("us")),
            "type": _TYPES.take(pa.array(credit.astype(np.int8))),
            "operation": _OPERATIONS.take(pa.array(operation.astype(np.int8))),
            "amount": pa.array(amount.astype(np.int32)),
            "balance": pa.array(balance.astype(np.int32)),
        },
        schema=ROW_SCHEMA,
    )


def _history_dates(rng: np.random.Generator, n: int, accounts: int, start: np.datetime64) -> np.ndarray:
    """``n`` sorted random moments from ``start`` over a span that gives ~30 movements a month."""
    span_us = max(1, int(n / accounts / MOVEMENTS_PER_ACCOUNT_PER_DAY * 86_400e6))
    offsets = np.sort(rng.integers(0, span_us, size=n, dtype=np.int64))
    return start + offsets.astype("timedelta64[us]")


@contextmanager
def _database_errors(db: DatabaseUrl, table: str) -> Iterator[None]:
    """Driver errors after connecting (a table of another shape, a full disk) → a C360Error."""
    try:
        yield
    except adbc_driver_manager.Error as exc:
        raise C360Error(
            f"writing table {table!r} of {db.display} failed: {str(exc).strip()}",
            hint=f"is {table!r} a transactions table (trans_id, account_id, date, type, operation, amount, "
            "balance)? drop it or choose another table",
        ) from None


def _insert(conn: Any, kind: str, table: str, rows: pa.Table) -> None:
    """Insert ``rows`` in one committed transaction (binary COPY on PostgreSQL)."""
    if kind == "sqlite":
        # SQLite has no timestamp type: ISO text of fixed width, so text order is time order.
        rows = rows.set_column(1, "date", rows.column("date").cast(pa.string()))
    schema, name = split_table(table)
    cursor = conn.cursor()
    try:
        cursor.adbc_ingest(name, rows, mode="append", db_schema_name=schema)
    finally:
        cursor.close()
    conn.commit()


# ------------------------------------------------------------------------------------ writers


def write_transactions(
    url: str,
    account_ids: np.ndarray,
    rows: int,
    seed: int,
    start: datetime | None = None,
    *,
    table: str = DEFAULT_TABLE,
) -> int:
    """Append ``rows`` movements of ``account_ids`` in one bulk transaction; return the count.

    Dates start at ``start`` (default: just after the table's last date, or 2024-01-01 for an
    empty table; an earlier ``start`` back-dates the rows, and then ``trans_id`` no longer
    follows ``date``) and span about one day per movement per account. The same seed on the
    same table contents gives the same rows. Creates the table if needed.
    """
    if rows < 0:
        raise C360Error(f"rows must be zero or more, not {rows}")
    db = _parse(url)
    create_schema(url, table=table)
    conn = _connect(db)
    try:
        with _database_errors(db, table):
            rng = np.random.default_rng(seed)
            cursor = conn.cursor()
            ledger = _ledger(cursor, table, account_ids, rng)
            cursor.close()
            if start is not None:
                begin = np.datetime64(start.replace(tzinfo=None), "us")
            elif ledger.last_date is not None:
                begin = ledger.last_date + np.timedelta64(1, "s")
            else:
                begin = np.datetime64(DEFAULT_START, "us")
            if rows:
                dates = _history_dates(rng, rows, ledger.account_ids.size, begin)
                _insert(conn, db.kind, table, _movements(rng, ledger, dates))
            return rows
    finally:
        conn.close()


def follow(
    url: str,
    account_ids: np.ndarray,
    rows_per_second: float,
    seed: int,
    stop: threading.Event | None = None,
    duration: float | None = None,
    *,
    table: str = DEFAULT_TABLE,
    tick_seconds: float = 0.05,
) -> int:
    """Keep inserting movements dated "now", in small committed transactions; return the count.

    Like the reference system's writer: one transaction every ``tick_seconds`` holding the rows
    due at ``rows_per_second``, until ``stop`` is set, ``duration`` seconds have passed, or
    Ctrl-C (which stops it cleanly: a transaction is either committed or not at all). Dates
    never go backwards, even after history generated into the future, so ``trans_id`` keeps
    following ``date``. Timing decides how rows fall into transactions, so unlike
    :func:`write_transactions` the exact rows are not reproducible.
    """
    if rows_per_second <= 0:
        raise C360Error(f"rate must be above zero rows a second, not {rows_per_second}")
    db = _parse(url)
    create_schema(url, table=table)
    stop = stop or threading.Event()
    conn = _connect(db)
    inserted = 0
    try:
        with _database_errors(db, table):
            rng = np.random.default_rng(seed)
            cursor = conn.cursor()
            ledger = _ledger(cursor, table, account_ids, rng)
            cursor.close()
            conn.commit()  # end the read transaction: don't hold a snapshot while writing for hours
            most_per_transaction = max(1, int(rows_per_second))  # a second's worth when catching up
            began = time.monotonic()
            while not stop.is_set():
                elapsed = time.monotonic() - began
                if duration is not None and elapsed >= duration:
                    break
                due = min(int(rows_per_second * elapsed) - inserted, most_per_transaction)
                if due > 0:
                    now = np.datetime64(datetime.now(), "us")
                    if ledger.last_date is not None and now <= ledger.last_date:
                        now = ledger.last_date + np.timedelta64(1, "us")
                    dates = now + np.arange(due).astype("timedelta64[us]")
                    _insert(conn, db.kind, table, _movements(rng, ledger, dates))
                    inserted += due
                wait = tick_seconds if duration is None else min(tick_seconds, max(0.0, duration - elapsed))
                stop.wait(wait)
    except KeyboardInterrupt:
        pass
    finally:
        conn.close()
    return inserted


def read_account_ids(path: Path) -> np.ndarray:
    """Account ids: the first column of a headerless accounts CSV, or of every CSV in a folder.

    That is the account origination extract of the reference system
    (``account_id, branch_id, frequency, date_of_creation``).
    """
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files or not files[0].is_file():
        raise C360Error(f"no accounts file at {path}", hint="give the account extract CSV with --accounts")
    ids: list[int] = []
    for file in files:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            for number, record in enumerate(csv.reader(handle), start=1):
                if not record or not record[0].strip():
                    continue
                try:
                    ids.append(int(record[0]))
                except ValueError:
                    raise C360Error(
                        f"{file}:{number}: account id {record[0]!r} is not an integer",
                        hint="the accounts file has no header; its first column is account_id",
                    ) from None
    if not ids:
        raise C360Error(f"no account ids in {path}", hint="give the account extract CSV with --accounts")
    return np.unique(np.array(ids, dtype=np.int64))


_keep_writing = follow  # `run` has a parameter named follow


def run(
    url: str,
    accounts_csv: Path,
    rows: int,
    seed: int = 0,
    follow: bool = False,
    rate: float = 100.0,
    *,
    table: str = DEFAULT_TABLE,
) -> int:
    """``c360 simulate transactions --db URL --accounts FILE --rows N [--follow --rate R]``.

    Creates the table, writes ``rows`` of history in bulk, then with ``follow`` keeps writing
    ``rate`` rows a second until Ctrl-C. Returns the number of rows inserted.
    """
    ids = read_account_ids(accounts_csv)
    inserted = write_transactions(url, ids, rows, seed, table=table)
    if follow:
        inserted += _keep_writing(url, ids, rate, seed + 1, table=table)
    return inserted


__all__ = [
    "DEFAULT_TABLE",
    "create_schema",
    "follow",
    "read_account_ids",
    "run",
    "write_transactions",
]
