"""The profile store in PostgreSQL (``serve.store_url``): the same versions as the SQLite store.

Every version lives in its own schema, ``<prefix>_v<N>``::

    profiles     customer_id → the profile (JSON text, as the SQLite store holds it)
    identifiers  (kind, value, customer_id), the primary key serving the lookups
    search       the normalized name, e-mail and city words, a ``tsvector`` of them, GIN-indexed
    vocab        the distinct words of letters, for typo expansion

A publish loads a new schema with ``COPY`` (CSV written by Arrow, not row by row), builds the
indexes after the load, and then, in one transaction, records the version and moves the pointer
row ``<prefix>.meta('current_version')``. A version's schema never changes once published, so a
reader that read the pointer reads one complete version; the previous version is kept, older
ones are dropped. Concurrent publishes are serialized by an advisory lock.

Statements repeat with only parameters changing, so psycopg prepares them on the server after
their first few runs; each thread of the API keeps its own connection.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from c360.serve.search import Pass, Vocabulary, gather, query_words, rank
from c360.serve.snapshot import read_snapshot
from c360.serve.store_api import (
    KEEP_VERSIONS,
    ProfileReader,
    PublishProgress,
    PublishResult,
    StoreError,
    customers_by_value,
    lookup_value,
)

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa

    from c360.config import Project

PREFIX = "c360_serving"
BATCH_ROWS = 50_000
CONNECT_TIMEOUT_SECONDS = 10


def _connect(url: str, *, autocommit: bool) -> psycopg.Connection:
    import psycopg

    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.OperationalError as exc:
        raise StoreError(
            f"cannot connect to the PostgreSQL profile store ({_safe(url)}): {exc}".strip(),
            hint="check serve.store_url in c360.toml and that the server is running",
        ) from None


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"


def _init(con: psycopg.Connection, prefix: str) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {prefix}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {prefix}.meta (key text PRIMARY KEY, value text)")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {prefix}.versions (version integer PRIMARY KEY, "
        "published_at text NOT NULL, snapshot_date text, customers bigint NOT NULL, "
        "identifiers bigint NOT NULL, source_snapshot_id text)"
    )


def _copy(
    con: psycopg.Connection,
    table: str,
    columns: str,
    batches: pa.RecordBatchReader,
    progress: PublishProgress,
) -> int:
    """COPY every Arrow batch into ``table`` as CSV; the number of rows."""
    import pyarrow.csv as pacsv

    rows = 0
    with con.cursor().copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        for batch in batches:
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=False))
            copy.write(buffer.getvalue())
            rows += batch.num_rows
            progress(table.rsplit(".", 1)[1], batch.num_rows)
    return rows


def _version_schemas(con: psycopg.Connection, prefix: str) -> list[int]:
    rows = con.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (prefix.replace("_", r"\_") + r"\_v%",)
    ).fetchall()
    return sorted(int(row[0].rsplit("_v", 1)[1]) for row in rows if row[0].rsplit("_v", 1)[1].isdigit())


def publish_postgres(
    project: Project, url: str, prefix: str = PREFIX, progress: PublishProgress | None = None
) -> PublishResult:
    """Load the latest customer_360 snapshot into a new version schema, then switch readers to it."""
    started = time.perf_counter()
    tell = progress or (lambda part, rows: None)
    with read_snapshot(project) as snapshot, _connect(url, autocommit=True) as con:
        con.execute("SELECT pg_advisory_lock(hashtext(%s))", (prefix,))
        _init(con, prefix)
        current = con.execute(f"SELECT max(version) FROM {prefix}.versions").fetchone()[0] or 0
        version = max([current, *_version_schemas(con, prefix)]) + 1
        schema = f"{prefix}_v{version}"
        with con.transaction():
            con.execute(f"CREATE SCHEMA {schema}")
            con.execute(f"CREATE TABLE {schema}.profiles (customer_id bigint NOT NULL, data text NOT NULL)")
            con.execute(
                f"CREATE TABLE {schema}.identifiers (kind text NOT NULL, value text NOT NULL, "
                "customer_id bigint NOT NULL)"
            )
            con.execute(
                f"CREATE TABLE {schema}.search (customer_id bigint NOT NULL, name text, email text, "
                "city text, words tsvector GENERATED ALWAYS AS "
                "(to_tsvector('simple'::regconfig, coalesce(name, '') || ' ' || coalesce(email, '') || ' ' "
                "|| coalesce(city, ''))) STORED)"
            )
            con.execute(f"CREATE TABLE {schema}.vocab (word text NOT NULL)")
            customers = _copy(
                con, f"{schema}.profiles", "customer_id, data", snapshot.profiles(BATCH_ROWS), tell
            )
            _copy(
                con,
                f"{schema}.search",
                "customer_id, name, email, city",
                snapshot.search_fields(BATCH_ROWS),
                tell,
            )
            _copy(con, f"{schema}.vocab", "word", snapshot.vocabulary(BATCH_ROWS), tell)
            identifiers = _copy(
                con,
                f"{schema}.identifiers",
                "kind, value, customer_id",
                snapshot.identifiers(BATCH_ROWS),
                tell,
            )
            # Indexes after the load: one sorted build each, not a million inserts into a B-tree.
            con.execute(f"ALTER TABLE {schema}.profiles ADD PRIMARY KEY (customer_id)")
            con.execute(f"ALTER TABLE {schema}.identifiers ADD PRIMARY KEY (kind, value, customer_id)")
            con.execute(f"CREATE INDEX ON {schema}.identifiers (customer_id)")
            con.execute(f"ALTER TABLE {schema}.search ADD PRIMARY KEY (customer_id)")
            con.execute(f"CREATE INDEX ON {schema}.search USING gin (words)")
            con.execute(f"ALTER TABLE {schema}.vocab ADD PRIMARY KEY (word)")
            for table in ("profiles", "identifiers", "search", "vocab"):
                con.execute(f"ANALYZE {schema}.{table}")
        # The switch: one transaction records the version and moves the pointer.
        with con.transaction():
            con.execute(
                f"INSERT INTO {prefix}.versions VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    version,
                    datetime.now().astimezone().isoformat(timespec="seconds"),
                    snapshot.snapshot_date,
                    customers,
                    identifiers,
                    str(snapshot.snapshot_id) if snapshot.snapshot_id is not None else None,
                ),
            )
            con.execute(
                f"INSERT INTO {prefix}.meta VALUES ('current_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(version),),
            )
        for old in _version_schemas(con, prefix):
            if old <= version - KEEP_VERSIONS:
                con.execute(f"DROP SCHEMA IF EXISTS {prefix}_v{old} CASCADE")
        con.execute("SELECT pg_advisory_unlock(hashtext(%s))", (prefix,))
    return PublishResult(
        version,
        f"{_safe(url)} {schema}",
        snapshot.snapshot_date,
        customers,
        identifiers,
        time.perf_counter() - started,
    )


class PostgresProfileStore(ProfileReader):
    """Reads of the current version in PostgreSQL (the same interface as the SQLite store)."""

    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        self.url = url
        self.prefix = prefix
        self._local = threading.local()
        self._vocabularies: dict[int, Vocabulary] = {}
        self._vocabulary_lock = threading.Lock()

    def _con(self) -> psycopg.Connection:
        con = getattr(self._local, "con", None)
        if con is None or con.closed:
            con = _connect(self.url, autocommit=True)
            self._local.con = con
        return con

    @contextlib.contextmanager
    def read(self) -> Iterator[tuple[psycopg.Connection, str, int]]:
        """(connection, version schema, version). The schema is immutable once published, so the
        statements of one read see one complete version even outside a transaction."""
        import psycopg

        con = self._con()
        try:
            row = con.execute(
                f"SELECT value FROM {self.prefix}.meta WHERE key = 'current_version'"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            row = None
        except psycopg.OperationalError as exc:
            self._local.con = None
            raise StoreError(f"the PostgreSQL profile store failed: {exc}") from None
        if row is None:
            raise StoreError("the serving store has no published version", hint="publish first")
        version = int(row[0])
        yield con, f"{self.prefix}_v{version}", version

    def info(self) -> dict[str, Any]:
        with self.read() as (con, schema, version):
            count = con.execute(f"SELECT count(*) FROM {schema}.profiles").fetchone()[0]
            row = con.execute(
                f"SELECT published_at, snapshot_date FROM {self.prefix}.versions WHERE version = %s",
                (version,),
            ).fetchone()
        return {
            "version": version,
            "published_at": row[0] if row else None,
            "snapshot_date": row[1] if row else None,
            "customers": count,
        }

    def get_json(self, customer_id: int) -> str | None:
        with self.read() as (con, schema, _):
            row = con.execute(
                f"SELECT data FROM {schema}.profiles WHERE customer_id = %s", (customer_id,)
            ).fetchone()
        return row[0] if row else None

    def lookup_json(self, kind: str, value: str) -> list[str]:
        with self.read() as (con, schema, _):
            rows = con.execute(
                f"SELECT p.data FROM {schema}.identifiers AS i JOIN {schema}.profiles AS p "
                "ON p.customer_id = i.customer_id WHERE i.kind = %s AND i.value = %s ORDER BY i.customer_id",
                (kind, lookup_value(kind, value)),
            ).fetchall()
        return [row[0] for row in rows]

    def customer_ids(self, kind: str, values: list[str]) -> dict[str, tuple[int, ...]]:
        with self.read() as (con, schema, _):
            rows = con.execute(
                f"SELECT value, customer_id FROM {schema}.identifiers WHERE kind = %s AND value = ANY(%s) "
                "ORDER BY customer_id",
                (kind, values),
            ).fetchall()
        return customers_by_value(values, rows)

    def identifiers(self, customer_id: int) -> list[tuple[str, str]]:
        with self.read() as (con, schema, _):
            return con.execute(
                f"SELECT kind, value FROM {schema}.identifiers WHERE customer_id = %s ORDER BY kind, value",
                (customer_id,),
            ).fetchall()

    def _vocabulary(self, con: psycopg.Connection, schema: str, version: int) -> Vocabulary:
        with self._vocabulary_lock:
            if version not in self._vocabularies:
                words = (row[0] for row in con.execute(f"SELECT word FROM {schema}.vocab"))
                self._vocabularies = {version: Vocabulary(words)}
            return self._vocabularies[version]

    def search(self, text: str, limit: int, offset: int) -> tuple[int, list[tuple[float, dict[str, Any]]]]:
        """As the SQLite store searches: bounded candidates (exact, prefix, typo), then ranked."""
        words = query_words(text)
        if not words:
            return 0, []
        with self.read() as (con, schema, version):
            sql = (
                f"SELECT customer_id, name, email, city FROM {schema}.search "
                "WHERE words @@ to_tsquery('simple', %s) LIMIT %s"
            )
            found, expansions = gather(
                words,
                offset + limit,
                tsquery,
                lambda query, bound: con.execute(sql, (query, bound)),
                self._vocabulary(con, schema, version),
            )
            ranked = rank(words, found, expansions)
            page = ranked[offset : offset + limit]
            documents = dict(
                con.execute(
                    f"SELECT customer_id, data FROM {schema}.profiles WHERE customer_id = ANY(%s)",
                    ([cid for _, cid in page],),
                ).fetchall()
            )
        return len(ranked), [(score, json.loads(documents[cid])) for score, cid in page]

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


def tsquery(query: Pass) -> str:
    """A ``to_tsquery('simple', ...)`` text of a candidate pass (words are letters and digits)."""
    operator, groups = query
    rendered = [
        "(" + " | ".join(f"{word}:*" if prefix else word for word, prefix in group) + ")" for group in groups
    ]
    return (" & " if operator == "and" else " | ").join(rendered)
