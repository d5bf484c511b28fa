"""The profile store in SQLite: the latest ``customer_360`` snapshot and an identifier map.

``<lake>/serving.db`` (WAL mode, so readers never block the writer) holds the pointer row
``serving_meta('current_version')``, the list of ``versions``, the API keys and the audit log.
Each publish writes a complete new *version* into a file of its own, ``serving-v<N>.db`` beside
it::

    profiles     customer_id → the profile (one JSON object, every customer_360 column)
    identifiers  (kind, value) → customer_id (see :mod:`c360.serve.snapshot` for the kinds)
    search       FTS5 index over the normalized words of names, e-mails and cities
    vocab        the distinct words of letters, for typo expansion (:mod:`c360.serve.search`)

The file is written without a journal under a temporary name, synced to disk and renamed, and
only then does one transaction in ``serving.db`` record the version and move the pointer. A
version file never changes once published, so a reader that read the pointer reads one complete
version (opened ``immutable``: no locks at all), never a half-written set; the previous version
is kept and older files are deleted (a reader still holding one keeps reading it: the file lives
until it is closed). Writing each version once, to its own file, spares the write-ahead log's
second copy and the freeing of a million pages that dropping tables inside one file costs.

:func:`open_store` and :func:`publish` pick the PostgreSQL store instead when
``serve.store_url`` is set.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from c360.serve.search import Pass, Vocabulary, gather, query_words, rank
from c360.serve.snapshot import Snapshot, prefetched_rows, read_snapshot
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
    import pyarrow as pa

    from c360.config import Project

__all__ = [
    "ProfileReader",
    "ProfileStore",
    "PublishProgress",
    "PublishResult",
    "StoreError",
    "open_store",
    "publish",
]

STORE_FILE = "serving.db"
BUSY_TIMEOUT_MS = 30_000
# Values per IN (...) query (far below SQLite's bound on parameters).
IN_CHUNK = 500
# Rows per batch from DuckDB to SQLite while writing a version.
BATCH_ROWS = 50_000
# SQLite page cache while writing a version: the identifier B-tree stays in memory.
WRITE_CACHE_MB = 256
# Pages of 8 KiB hold three profile documents (about 2.4 KB each at 106 columns); 4 KiB pages
# would hold one, wasting 40% of the file.
PAGE_SIZE = 8192


def store_path(project: Project) -> Path:
    return project.lake_dir / STORE_FILE


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def to_json(value: Any) -> str:
    """JSON text of ``value``: dates as ISO text, decimals as numbers, NaN and infinities as null."""
    return json.dumps(_finite(value), default=_json_default, separators=(",", ":"), allow_nan=False)


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(to_json(row))


def connect_store(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journal, busy timeout."""
    if readonly:
        con = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
    con.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return con


def init_store(path: Path) -> None:
    """Create the store's fixed tables (pointer, versions, keys, audit) if they do not exist."""
    con = connect_store(path)
    try:
        con.executescript(
            """
            BEGIN;
            CREATE TABLE IF NOT EXISTS serving_meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS versions (
                version INTEGER PRIMARY KEY, published_at TEXT NOT NULL, snapshot_date TEXT,
                customers INTEGER NOT NULL, identifiers INTEGER NOT NULL, source_snapshot_id TEXT);
            CREATE TABLE IF NOT EXISTS api_keys (
                key_id TEXT PRIMARY KEY, role TEXT NOT NULL, salt TEXT NOT NULL, hash TEXT NOT NULL,
                created_at TEXT NOT NULL, revoked_at TEXT);
            CREATE TABLE IF NOT EXISTS audit_log (
                id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, key_id TEXT, role TEXT,
                method TEXT NOT NULL, route TEXT NOT NULL, params TEXT NOT NULL, status INTEGER NOT NULL,
                rows INTEGER, duration_ms REAL);
            COMMIT;
            """
        )
    finally:
        con.close()


def _current_version(con: sqlite3.Connection) -> int | None:
    row = con.execute("SELECT value FROM serving_meta WHERE key = 'current_version'").fetchone()
    return int(row[0]) if row else None


def open_store(project: Project, path: Path | None = None) -> ProfileReader:
    """The project's profile store: PostgreSQL when ``serve.store_url`` is set, else SQLite."""
    url = project.settings.serve.store_url
    if url and path is None:
        from c360.serve.store_postgres import PostgresProfileStore

        return PostgresProfileStore(url)
    return ProfileStore(path or store_path(project))


def publish(
    project: Project, path: Path | None = None, progress: PublishProgress | None = None
) -> PublishResult:
    """Copy the latest customer_360 snapshot and the identifier map into a new store version
    (of the PostgreSQL store when ``serve.store_url`` is set and no SQLite ``path`` is given)."""
    url = project.settings.serve.store_url
    if url and path is None:
        from c360.serve.store_postgres import publish_postgres

        return publish_postgres(project, url, progress=progress)
    return publish_sqlite(project, path or store_path(project), progress)


def version_path(path: Path, version: int) -> Path:
    """The file of one version of the store whose pointer file is ``path``."""
    return path.with_name(f"{path.stem}-v{version}{path.suffix}")


def _fill(
    con: sqlite3.Connection, sql: str, batches: pa.RecordBatchReader, part: str, progress: PublishProgress
) -> int:
    """Insert every record batch; the number of rows."""
    count = 0
    for rows in prefetched_rows(batches):
        con.executemany(sql, rows)
        count += len(rows)
        progress(part, len(rows))
    return count


def _write_version(target: Path, snapshot: Snapshot, progress: PublishProgress) -> tuple[int, int]:
    """Write a complete version file at ``target``: (customers, identifiers)."""
    scratch = target.with_name(target.name + ".tmp")
    scratch.unlink(missing_ok=True)
    con = sqlite3.connect(scratch, isolation_level=None)
    try:
        # Nobody reads this file before it is complete and renamed, and a crash leaves only a
        # scratch file that the next publish replaces: no journal, no syncs until the end.
        con.executescript(
            f"""
            PRAGMA page_size={PAGE_SIZE}; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
            PRAGMA locking_mode=EXCLUSIVE; PRAGMA cache_size=-{WRITE_CACHE_MB * 1024};
            BEGIN;
            CREATE TABLE profiles (customer_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
            CREATE TABLE identifiers (kind TEXT NOT NULL, value TEXT NOT NULL,
                customer_id INTEGER NOT NULL, PRIMARY KEY (kind, value, customer_id)) WITHOUT ROWID;
            CREATE VIRTUAL TABLE search USING fts5(name, email, city,
                tokenize='unicode61 remove_diacritics 2', detail=none);
            CREATE TABLE vocab (word TEXT PRIMARY KEY) WITHOUT ROWID;
            """
        )
        # detail=none: search needs neither phrases nor NEAR, so no positions: the smallest index.
        customers = _fill(
            con, "INSERT INTO profiles VALUES (?, ?)", snapshot.profiles(BATCH_ROWS), "profiles", progress
        )
        _fill(
            con,
            "INSERT INTO search (rowid, name, email, city) VALUES (?, ?, ?, ?)",
            snapshot.search_fields(BATCH_ROWS),
            "search",
            progress,
        )
        _fill(con, "INSERT INTO vocab VALUES (?)", snapshot.vocabulary(BATCH_ROWS), "vocab", progress)
        identifiers = _fill(
            con,
            "INSERT INTO identifiers VALUES (?, ?, ?)",
            snapshot.identifiers(BATCH_ROWS),
            "identifiers",
            progress,
        )
        # A customer's card lists its identifiers: the reverse index, built once after the load.
        con.execute("CREATE INDEX identifiers_by_customer ON identifiers (customer_id)")
        con.execute("COMMIT")
    finally:
        con.close()
    _sync(scratch)
    scratch.replace(target)
    _sync(target.parent)
    return customers, identifiers


def _sync(path: Path) -> None:
    """Flush a file (or a directory's entries) to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _publish_lock(path: Path) -> Iterator[None]:
    """One publish per store at a time (two would write the same version file). An advisory
    ``flock``: the kernel releases it when its process dies, so a crash leaves no stale lock."""
    with open(path.with_name(path.name + ".publish.lock"), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(
                f"another publish into {path} is running", hint="wait for it to finish; nothing changed"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def publish_sqlite(project: Project, path: Path, progress: PublishProgress | None = None) -> PublishResult:
    """Write a new version beside the SQLite store at ``path``, then switch readers to it."""
    started = time.perf_counter()
    init_store(path)
    with _publish_lock(path):
        return _publish_locked(project, path, started, progress or _quiet)


def _quiet(part: str, rows: int) -> None:
    """No progress to show."""


def _publish_locked(project: Project, path: Path, started: float, progress: PublishProgress) -> PublishResult:
    con = connect_store(path)
    try:
        with read_snapshot(project) as snapshot:
            row = con.execute("SELECT max(version) FROM versions").fetchone()
            version = max(row[0] or 0, _current_version(con) or 0) + 1
            # A file of this version is the leftover of a publish killed before its switch.
            customers, identifiers = _write_version(version_path(path, version), snapshot, progress)
            # The switch: one transaction records the version and moves the pointer.
            con.execute("BEGIN IMMEDIATE")
            con.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?)",
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
                "INSERT INTO serving_meta VALUES ('current_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(version),),
            )
            con.execute("COMMIT")
        _drop_old_versions(path, version)
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return PublishResult(
        version,
        str(version_path(path, version)),
        snapshot.snapshot_date,
        customers,
        identifiers,
        time.perf_counter() - started,
    )


def _drop_old_versions(path: Path, current: int) -> None:
    """Delete the files of versions older than the previous one."""
    for file in path.parent.glob(f"{path.stem}-v*{path.suffix}"):
        number = file.name[len(path.stem) + 2 : -len(path.suffix) or None]
        if number.isdigit() and int(number) <= current - KEEP_VERSIONS:
            file.unlink(missing_ok=True)


def fts5_query(query: Pass) -> str:
    """An FTS5 MATCH expression of a candidate pass (words are letters and digits only)."""
    operator, groups = query
    rendered = [
        "(" + " OR ".join(f'"{word}"*' if prefix else f'"{word}"' for word, prefix in group) + ")"
        for group in groups
    ]
    return f" {operator.upper()} ".join(rendered)


class ProfileStore(ProfileReader):
    """Reads of the current version: the pointer from ``serving.db``, then the version's file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._vocabularies: dict[int, Vocabulary] = {}
        self._vocabulary_lock = threading.Lock()

    def _meta(self) -> sqlite3.Connection:
        con = getattr(self._local, "meta", None)
        if con is None:
            if not self.path.exists():
                raise StoreError(
                    f"no serving store at {self.path}", hint="publish first (`c360 run` publishes)"
                )
            con = connect_store(self.path, readonly=True)
            self._local.meta = con
        return con

    def _version(self, version: int) -> sqlite3.Connection:
        """This thread's connection to a version file (the one of the version read last)."""
        opened = getattr(self._local, "version", None)
        if opened is not None and opened[0] == version:
            return opened[1]
        if opened is not None:
            opened[1].close()
        file = version_path(self.path, version)
        con = sqlite3.connect(
            f"{file.resolve().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False
        )
        self._local.version = (version, con)
        return con

    @contextlib.contextmanager
    def read(self) -> Iterator[tuple[sqlite3.Connection, int]]:
        """(connection to the current version's file, version)."""
        version = _current_version(self._meta())
        if version is None:
            raise StoreError("the serving store has no published version", hint="publish first")
        yield self._version(version), version

    def info(self) -> dict[str, Any]:
        with self.read() as (con, version):
            count = con.execute("SELECT count(*) FROM profiles").fetchone()[0]
        row = (
            self._meta()
            .execute("SELECT published_at, snapshot_date FROM versions WHERE version = ?", (version,))
            .fetchone()
        )
        return {
            "version": version,
            "published_at": row[0] if row else None,
            "snapshot_date": row[1] if row else None,
            "customers": count,
        }

    def get_json(self, customer_id: int) -> str | None:
        """The stored profile document of ``customer_id``, as JSON text."""
        with self.read() as (con, _):
            row = con.execute("SELECT data FROM profiles WHERE customer_id = ?", (customer_id,)).fetchone()
        return row[0] if row else None

    def lookup_json(self, kind: str, value: str) -> list[str]:
        """The documents of every customer the identifier maps to (an e-mail may be shared)."""
        with self.read() as (con, _):
            rows = con.execute(
                "SELECT p.data FROM identifiers AS i JOIN profiles AS p ON p.customer_id = i.customer_id "
                "WHERE i.kind = ? AND i.value = ? ORDER BY i.customer_id",
                (kind, lookup_value(kind, value)),
            ).fetchall()
        return [row[0] for row in rows]

    def customer_ids(self, kind: str, values: list[str]) -> dict[str, tuple[int, ...]]:
        """Each value → the customers it maps to (none: an empty tuple), in customer_id order."""
        rows: list[tuple[str, int]] = []
        with self.read() as (con, _):
            for start in range(0, len(values), IN_CHUNK):
                chunk = values[start : start + IN_CHUNK]
                rows += con.execute(
                    "SELECT value, customer_id FROM identifiers WHERE kind = ? "
                    f"AND value IN ({', '.join('?' * len(chunk))}) ORDER BY customer_id",
                    (kind, *chunk),
                ).fetchall()
        return customers_by_value(values, rows)

    def identifiers(self, customer_id: int) -> list[tuple[str, str]]:
        """Every (kind, value) the map has for the customer, by kind and value."""
        with self.read() as (con, _):
            return con.execute(
                "SELECT kind, value FROM identifiers WHERE customer_id = ? ORDER BY kind, value",
                (customer_id,),
            ).fetchall()

    def _vocabulary(self, con: sqlite3.Connection, version: int) -> Vocabulary:
        """The version's typo-expansion vocabulary, read once per process and version."""
        with self._vocabulary_lock:
            if version not in self._vocabularies:
                words = (row[0] for row in con.execute("SELECT word FROM vocab"))
                self._vocabularies = {version: Vocabulary(words)}
            return self._vocabularies[version]

    def search(self, text: str, limit: int, offset: int) -> tuple[int, list[tuple[float, dict[str, Any]]]]:
        """(candidates, page of (score, profile)): a bounded set of profiles matching every word
        exactly, else as prefixes, else with typos, ranked by :func:`c360.serve.search.rank`."""
        words = query_words(text)
        if not words:
            return 0, []
        with self.read() as (con, version):
            found, expansions = gather(
                words,
                offset + limit,
                fts5_query,
                lambda match, bound: con.execute(
                    "SELECT rowid, name, email, city FROM search WHERE search MATCH ? LIMIT ?", (match, bound)
                ),
                self._vocabulary(con, version),
            )
            ranked = rank(words, found, expansions)
            page = ranked[offset : offset + limit]
            ids = [cid for _, cid in page]
            marks = ", ".join("?" * len(ids))
            documents = dict(
                con.execute(f"SELECT customer_id, data FROM profiles WHERE customer_id IN ({marks})", ids)
            )
        return len(ranked), [(score, json.loads(documents[cid])) for score, cid in page]

    def close(self) -> None:
        """Close this thread's connections."""
        meta = getattr(self._local, "meta", None)
        if meta is not None:
            meta.close()
        opened = getattr(self._local, "version", None)
        if opened is not None:
            opened[1].close()
        self._local.meta = self._local.version = None
