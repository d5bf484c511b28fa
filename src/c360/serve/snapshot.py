"""What a publish copies out of the lake, computed by DuckDB in a few vectorized queries.

The latest ``customer_360`` snapshot is materialized once; from it come the profile documents
(one JSON object per customer, every column, written by DuckDB's ``to_json`` rather than row by
row in Python), the normalized search fields, and the identifier map, each streamed as Arrow
record batches in key order so that a store appends to its indexes instead of inserting at random.

Identifier kinds in the map (values normalized as stage normalizes them). Each reaches its
customer through ``identity.record_customers``, the identity step's assignment of every source
record, so an identifier names the resolved person, not the source's own key:

- ``client_id``: the CRM client id (two registrations of one person: one customer);
- ``email``: every e-mail a source gave the person (CRM, store account, retail contact) and the
  profile's own, lower-case; an address shared by several people returns all of them;
- ``phone``: CRM phone and the profile's own, in E.164 as stage writes it;
- ``visitor_id``: a web visitor (browser) id: its own record's customer, and the customers of every
  client who logged in from it (a shared browser);
- ``user_id``: the online store account;
- ``order_id``: a retail order, whichever customer its contact resolved to;
- ``record``: each contributing source record, ``<source>:<record key>`` as identity.graph and
  ``c360 identity explain`` name it.

Only customers present in the published snapshot are mapped.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from c360.serve.pii import PROFILE_TABLE
from c360.serve.search import NORMALIZE_SQL
from c360.serve.store_api import StoreError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from c360.config import Project

RECORDS = "identity.record_customers"
STAGE_TABLES = ("stage.crm", "stage.web_visitors", "stage.store_users", "stage.retail_orders")


def _through_records(source: str, key: str) -> str:
    """Join a stage row to the customer its source record resolved to."""
    return f"JOIN {RECORDS} AS k ON k.source = '{source}' AND k.record_key = CAST({key} AS VARCHAR)"


# Every identifier reaches its customer_id through identity.record_customers, the identity step's
# assignment of each source record; each stage table adds the identifiers its rows carry. A source
# whose stage table is absent is skipped (a project may not have every source).
_RECORD_SQL = f"""
    SELECT 'record' AS kind, record_id AS value, customer_id FROM {RECORDS}
    UNION ALL SELECT 'client_id', record_key, customer_id FROM {RECORDS} WHERE source = 'crm'
    UNION ALL SELECT 'user_id', record_key, customer_id FROM {RECORDS} WHERE source = 'store_users'
    UNION ALL SELECT 'visitor_id', record_key, customer_id FROM {RECORDS} WHERE source = 'web_visitors'
"""
_IDENTIFIER_SQL = {
    "stage.crm": f"""
        SELECT 'email' AS kind, lower(trim(c.email)) AS value, k.customer_id
        FROM stage.crm AS c {_through_records("crm", "c.client_id")}
        WHERE c.email IS NOT NULL AND trim(c.email) <> ''
        UNION ALL SELECT 'phone', c.phone, k.customer_id
        FROM stage.crm AS c {_through_records("crm", "c.client_id")}
        WHERE c.phone IS NOT NULL AND c.phone <> ''
    """,
    # A browser shared by several clients is each of their customers' visitor id.
    "stage.web_visitors": f"""
        SELECT 'visitor_id' AS kind, v.full_visitor_id AS value, k.customer_id
        FROM stage.web_visitors AS v {_through_records("crm", "v.client_id")}
        WHERE v.full_visitor_id IS NOT NULL
    """,
    "stage.store_users": f"""
        SELECT 'email' AS kind, lower(trim(u.email)) AS value, k.customer_id
        FROM stage.store_users AS u {_through_records("store_users", "u.user_id")}
        WHERE u.email IS NOT NULL AND trim(u.email) <> ''
    """,
    "stage.retail_orders": f"""
        SELECT 'order_id' AS kind, o.order_id AS value, k.customer_id
        FROM stage.retail_orders AS o {_through_records("retail_orders", "o.row_id")}
        WHERE o.order_id IS NOT NULL
        UNION ALL SELECT 'email', lower(trim(o.contact_email)), k.customer_id
        FROM stage.retail_orders AS o {_through_records("retail_orders", "o.row_id")}
        WHERE o.contact_email IS NOT NULL AND trim(o.contact_email) <> ''
    """,
}
# The golden record may take a customer's e-mail or phone from any source: map those too.
_PROFILE_SQL = """
    SELECT 'email' AS kind, lower(trim(email)) AS value, customer_id FROM __latest
    WHERE email IS NOT NULL AND trim(email) <> ''
    UNION ALL SELECT 'phone', phone, customer_id FROM __latest WHERE phone IS NOT NULL AND phone <> ''
"""


# The searched fields of a profile, normalized as search.normalize does.
_SEARCH_FIELDS = {
    "name": NORMALIZE_SQL.format(x="concat_ws(' ', first_name, last_name)"),
    "email": NORMALIZE_SQL.format(x="email"),
    "city": NORMALIZE_SQL.format(x="concat_ws(' ', city, country)"),
}


@dataclass
class Snapshot:
    """The latest customer_360 snapshot, open in DuckDB until the ``read_snapshot`` block ends.

    ``__latest`` is stored in customer_id order and DuckDB scans a table in insertion order, so
    the per-profile streams come in key order without a sort of the (large) JSON documents.
    """

    con: duckdb.DuckDBPyConnection
    snapshot_date: str | None
    snapshot_id: int | None
    customers: int
    stage_tables: tuple[str, ...]

    def profiles(self, batch_rows: int) -> pa.RecordBatchReader:
        """(customer_id, data): each profile as compact JSON, dates ISO, NaN and infinities null."""
        columns = ", ".join(_json_ready(name, kind) for name, kind in self._columns())
        return self._stream(
            f"SELECT customer_id, CAST(to_json(p) AS VARCHAR) AS data "
            f"FROM (SELECT {columns} FROM __latest) AS p",
            batch_rows,
        )

    def search_fields(self, batch_rows: int) -> pa.RecordBatchReader:
        """(customer_id, name, email, city): the normalized words search indexes."""
        fields = ", ".join(f"{sql} AS {name}" for name, sql in _SEARCH_FIELDS.items())
        return self._stream(f"SELECT customer_id, {fields} FROM __latest", batch_rows)

    def vocabulary(self, batch_rows: int) -> pa.RecordBatchReader:
        """(word): the distinct indexed words of three letters or more, the typo expansions' pool."""
        fields = ", ".join(_SEARCH_FIELDS.values())
        return self._stream(
            f"SELECT DISTINCT word FROM (SELECT unnest(string_split(concat_ws(' ', {fields}), ' ')) AS word "
            "FROM __latest) WHERE length(word) >= 3 AND regexp_full_match(word, '\\p{L}+') ORDER BY word",
            batch_rows,
        )

    def identifiers(self, batch_rows: int) -> pa.RecordBatchReader:
        """(kind, value, customer_id), distinct, in key order."""
        parts = [_PROFILE_SQL]
        if RECORDS in self.stage_tables:
            parts += [
                _RECORD_SQL,
                *(_IDENTIFIER_SQL[name] for name in self.stage_tables if name in _IDENTIFIER_SQL),
            ]
        union = " UNION ALL ".join(f"({part})" for part in parts)
        return self._stream(
            f"SELECT DISTINCT i.kind, i.value, i.customer_id FROM ({union}) AS i "
            "SEMI JOIN __latest AS p ON p.customer_id = i.customer_id ORDER BY 1, 2, 3",
            batch_rows,
        )

    def _columns(self) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in self.con.execute("DESCRIBE __latest").fetchall()]

    def _stream(self, sql: str, batch_rows: int) -> pa.RecordBatchReader:
        return self.con.sql(sql).to_arrow_reader(batch_rows)


def _json_ready(name: str, kind: str) -> str:
    """The column as the profile document holds it: JSON has no NaN, and Python's ISO timestamps."""
    quoted = '"' + name.replace('"', '""') + '"'
    if kind in ("DOUBLE", "FLOAT"):
        return f"CASE WHEN isfinite({quoted}) THEN {quoted} END AS {quoted}"
    if kind.startswith("TIMESTAMP"):
        return f"replace(CAST({quoted} AS VARCHAR), ' ', 'T') AS {quoted}"
    return quoted


@contextlib.contextmanager
def read_snapshot(project: Project) -> Iterator[Snapshot]:
    """The latest customer_360 snapshot and the stage tables the identifier map needs."""
    import duckdb

    from c360.lake.catalog import open_catalog
    from c360.lake.query import register_table
    from c360.lake.tables import load_table

    catalog = open_catalog(project)
    table = load_table(catalog, PROFILE_TABLE)
    if table is None:
        raise StoreError(
            f"no table {PROFILE_TABLE} in the lake, nothing to publish",
            hint="run `c360 build` (or `c360 run`) first",
        )
    con = duckdb.connect()
    try:
        register_table(con, table, PROFILE_TABLE)
        present = []
        for name in (RECORDS, *STAGE_TABLES):
            stage = load_table(catalog, name)
            if stage is not None:
                register_table(con, stage, name)
                present.append(name)
        con.execute(
            f"CREATE TEMP TABLE __latest AS SELECT * FROM {PROFILE_TABLE} "
            f"WHERE snapshot_date = (SELECT max(snapshot_date) FROM {PROFILE_TABLE}) ORDER BY customer_id"
        )
        customers, latest = con.execute("SELECT count(*), max(snapshot_date) FROM __latest").fetchone()
        current = table.current_snapshot()
        yield Snapshot(
            con,
            latest.isoformat() if latest is not None else None,
            current.snapshot_id if current is not None else None,
            customers,
            tuple(present),
        )
    finally:
        con.close()


def prefetched_rows(batches: pa.RecordBatchReader, depth: int = 2) -> Iterator[list[tuple[Any, ...]]]:
    """The batches as lists of row tuples (what DB-API ``executemany`` takes), computed by a
    background thread: DuckDB (and the conversion) work on the next batch while the store writes
    this one, which keeps both cores busy instead of alternating between them."""
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()

    def produce() -> None:
        try:
            for batch in batches:
                slots.put(list(zip(*(column.to_pylist() for column in batch.columns), strict=True)))
            slots.put(done)
        except BaseException as exc:  # handed to the consumer, which raises it
            slots.put(exc)

    thread = threading.Thread(target=produce, name="c360-publish-prefetch", daemon=True)
    thread.start()
    try:
        while (item := slots.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        # A consumer that stopped early (an error while writing) unblocks the producer.
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                slots.get(timeout=0.1)
        thread.join()
