"""The profile store: the latest ``customer_360`` snapshot and an identifier map, in SQLite.

The store is one SQLite file in WAL mode (``<lake>/serving.db`` by default), so readers never
block the writer and the writer never blocks readers. Each publish writes a complete new
*version* as a new set of tables::

    profiles_v<N>     customer_id → the profile (one JSON object, every customer_360 column)
    identifiers_v<N>  (kind, value) → customer_id
    search_v<N>       FTS5 index over names, e-mails and cities: the trigram tokenizer, or (SQLite
                      before 3.34) each value's trigrams indexed as words; a query matches any of
                      its trigrams (typo tolerant), ranked by bm25 then re-ranked by similarity

and only then switches the pointer row ``serving_meta('current_version')`` in one transaction.
A reader reads the pointer and the version's tables inside one read transaction, so it sees
either the old version or the new one, never a half-written set. The previous version is kept
(``versions`` lists them); older ones are dropped.

Identifier kinds in the map (values normalized as stage normalizes them):

- ``client_id``: the CRM client id (every version of the CRM record);
- ``email``: CRM e-mail, lower-case (an address may belong to several clients: the lookup returns
  all of them);
- ``phone``: CRM phone in E.164, as stage writes it;
- ``visitor_id``: ``stage.web_visitors.full_visitor_id`` → its ``client_id``;
- ``user_id``: ``stage.store_users.user_id``, linked to the CRM client(s) whose e-mail equals the
  store user's e-mail (lower-case). The store has no client id, so this is the only link until
  identity resolution lands; a store user whose e-mail matches no CRM client is not mapped;
- ``order_id``: ``stage.retail_orders.order_id`` of the order lines carrying a ``client_id``;
- ``record``: the key of each contributing source record, ``<source>:<batch id>:<record number>``
  (the stage row's ``_c360_batch_id`` and ``_c360_record``), so a profile traces back to raw.

Only customers present in the published snapshot are mapped.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from c360.errors import C360Error
from c360.serve.pii import PROFILE_TABLE

if TYPE_CHECKING:
    from c360.config import Project

STORE_FILE = "serving.db"
KEEP_VERSIONS = 2
IDENTIFIER_KINDS = ("client_id", "email", "phone", "visitor_id", "user_id", "order_id", "record")
SEARCH_CANDIDATES = 500
BUSY_TIMEOUT_MS = 30_000
# Rows per write transaction while filling a new version (readers never see these commits).
BATCH_ROWS = 5_000

# Each source: the stage table, its identifier columns and how they reach a customer_id. A source
# whose stage table is absent is skipped (a project may not have every source).
_IDENTIFIER_SQL = {
    "stage.crm": """
        SELECT 'client_id' AS kind, CAST(client_id AS VARCHAR) AS value, client_id AS customer_id
        FROM stage.crm WHERE client_id IS NOT NULL
        UNION SELECT 'email', lower(trim(email)), client_id FROM stage.crm
        WHERE email IS NOT NULL AND trim(email) <> '' AND client_id IS NOT NULL
        UNION SELECT 'phone', phone, client_id FROM stage.crm
        WHERE phone IS NOT NULL AND phone <> '' AND client_id IS NOT NULL
        UNION SELECT 'record', 'crm:' || _c360_batch_id || ':' || CAST(_c360_record AS VARCHAR), client_id
        FROM stage.crm WHERE client_id IS NOT NULL
    """,
    "stage.web_visitors": """
        SELECT 'visitor_id' AS kind, full_visitor_id AS value, client_id AS customer_id
        FROM stage.web_visitors WHERE full_visitor_id IS NOT NULL AND client_id IS NOT NULL
        UNION SELECT 'record', 'web_visitors:' || _c360_batch_id || ':' || CAST(_c360_record AS VARCHAR),
            client_id
        FROM stage.web_visitors WHERE client_id IS NOT NULL
    """,
    "stage.store_users": """
        SELECT DISTINCT 'user_id' AS kind, CAST(u.user_id AS VARCHAR) AS value, c.client_id AS customer_id
        FROM stage.store_users AS u JOIN stage.crm AS c ON lower(trim(u.email)) = lower(trim(c.email))
        WHERE u.user_id IS NOT NULL AND c.client_id IS NOT NULL
        UNION SELECT 'record', 'store_users:' || u._c360_batch_id || ':' || CAST(u._c360_record AS VARCHAR),
            c.client_id
        FROM stage.store_users AS u JOIN stage.crm AS c ON lower(trim(u.email)) = lower(trim(c.email))
        WHERE c.client_id IS NOT NULL
    """,
    "stage.retail_orders": """
        SELECT 'order_id' AS kind, order_id AS value, client_id AS customer_id
        FROM stage.retail_orders WHERE order_id IS NOT NULL AND client_id IS NOT NULL
        UNION SELECT 'record', 'retail_orders:' || _c360_batch_id || ':' || CAST(_c360_record AS VARCHAR),
            client_id
        FROM stage.retail_orders WHERE client_id IS NOT NULL
    """,
}


class StoreError(C360Error):
    exit_code = 2


@dataclass(frozen=True)
class PublishResult:
    version: int
    path: Path
    snapshot_date: str | None
    customers: int
    identifiers: int
    seconds: float


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


def _latest_snapshot(project: Project) -> tuple[Any, str | None, dict[str, Any]]:
    """The latest customer_360 snapshot as Arrow, its date, and the identifier rows (DuckDB)."""
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
    register_table(con, table, PROFILE_TABLE)
    present = []
    for name in ("stage.crm", "stage.web_visitors", "stage.store_users", "stage.retail_orders"):
        stage = load_table(catalog, name)
        if stage is not None:
            register_table(con, stage, name)
            present.append(name)
    profiles = con.sql(
        f"SELECT * FROM {PROFILE_TABLE} "
        f"WHERE snapshot_date = (SELECT max(snapshot_date) FROM {PROFILE_TABLE}) ORDER BY customer_id"
    ).to_arrow_table()
    snapshot = profiles.column("snapshot_date")[0].as_py() if profiles.num_rows else None
    con.register("__profiles", profiles)
    parts = [
        _IDENTIFIER_SQL[name] for name in present if name != "stage.store_users" or "stage.crm" in present
    ]
    identifiers: list[tuple[str, str, int]] = []
    if parts:
        union = " UNION ".join(f"({part})" for part in parts)
        identifiers = con.sql(
            f"SELECT DISTINCT i.kind, i.value, i.customer_id FROM ({union}) AS i "
            "JOIN (SELECT customer_id FROM __profiles) AS p ON p.customer_id = i.customer_id "
            "ORDER BY 1, 2, 3"
        ).fetchall()
    snapshot_id = table.current_snapshot().snapshot_id if table.current_snapshot() else None
    con.close()
    return (
        profiles,
        (snapshot.isoformat() if snapshot else None),
        {
            "identifiers": identifiers,
            "snapshot_id": snapshot_id,
        },
    )


def _current_version(con: sqlite3.Connection) -> int | None:
    row = con.execute("SELECT value FROM serving_meta WHERE key = 'current_version'").fetchone()
    return int(row[0]) if row else None


def publish(project: Project, path: Path | None = None) -> PublishResult:
    """Copy the latest customer_360 snapshot and the identifier map into a new store version."""
    started = time.perf_counter()
    path = path or store_path(project)
    init_store(path)
    profiles, snapshot_date, extra = _latest_snapshot(project)
    identifiers = extra["identifiers"]
    con = connect_store(path)
    try:
        tokenizer = search_tokenizer(con)
        con.execute("BEGIN IMMEDIATE")
        row = con.execute("SELECT max(version) FROM versions").fetchone()
        current = _current_version(con)
        version = max(row[0] or 0, current or 0) + 1
        # Leftovers of a publish killed before its switch have this version's names: replace them.
        for table in _version_tables(version):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(
            f"CREATE TABLE profiles_v{version} (customer_id INTEGER PRIMARY KEY, snapshot_date TEXT, "
            "data TEXT NOT NULL)"
        )
        con.execute(
            f"CREATE TABLE identifiers_v{version} (kind TEXT NOT NULL, value TEXT NOT NULL, "
            "customer_id INTEGER NOT NULL, PRIMARY KEY (kind, value, customer_id)) WITHOUT ROWID"
        )
        con.execute(
            f"CREATE VIRTUAL TABLE search_v{version} USING fts5(name, email, city, tokenize='{tokenizer}')"
        )
        con.execute("COMMIT")
        rows = profiles.to_pylist()
        for start in range(0, len(rows), BATCH_ROWS):
            chunk = rows[start : start + BATCH_ROWS]
            con.execute("BEGIN IMMEDIATE")
            con.executemany(
                f"INSERT INTO profiles_v{version} VALUES (?, ?, ?)",
                [(r["customer_id"], snapshot_date, to_json(r)) for r in chunk],
            )
            con.executemany(
                f"INSERT INTO search_v{version} (rowid, name, email, city) VALUES (?, ?, ?, ?)",
                [
                    (
                        r["customer_id"],
                        search_text(_joined(r, "first_name", "last_name"), tokenizer),
                        search_text(r.get("email") or "", tokenizer),
                        search_text(_joined(r, "city", "country"), tokenizer),
                    )
                    for r in chunk
                ],
            )
            con.execute("COMMIT")
        for start in range(0, len(identifiers), 4 * BATCH_ROWS):
            con.execute("BEGIN IMMEDIATE")
            con.executemany(
                f"INSERT OR IGNORE INTO identifiers_v{version} VALUES (?, ?, ?)",
                identifiers[start : start + 4 * BATCH_ROWS],
            )
            con.execute("COMMIT")
        # The switch: one transaction records the version and moves the pointer.
        con.execute("BEGIN IMMEDIATE")
        con.execute(
            "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?)",
            (
                version,
                datetime.now().astimezone().isoformat(timespec="seconds"),
                snapshot_date,
                len(rows),
                len(identifiers),
                str(extra["snapshot_id"]) if extra["snapshot_id"] is not None else None,
            ),
        )
        con.execute(
            "INSERT INTO serving_meta VALUES ('current_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(version),),
        )
        con.execute("COMMIT")
        _drop_old_versions(con, version)
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return PublishResult(
        version, path, snapshot_date, len(rows), len(identifiers), time.perf_counter() - started
    )


def _joined(row: dict[str, Any], *columns: str) -> str:
    return " ".join(str(row[column]) for column in columns if row.get(column))


def _version_tables(version: int) -> tuple[str, ...]:
    return (f"profiles_v{version}", f"identifiers_v{version}", f"search_v{version}")


def _drop_old_versions(con: sqlite3.Connection, current: int) -> None:
    """Keep the current and the previous version; a reader still inside an older version's read
    transaction keeps seeing its snapshot (WAL), so dropping is safe."""
    names = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    old = sorted(
        {int(name.rsplit("_v", 1)[1]) for name in names if name.startswith("profiles_v")}
        - set(range(current - KEEP_VERSIONS + 1, current + 1))
    )
    for version in old:
        con.execute("BEGIN IMMEDIATE")
        for table in _version_tables(version):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute("COMMIT")


def word_trigrams(text: str) -> list[str]:
    """The distinct trigrams of the words (letters and digits) of ``text``, lower-case, in order."""
    grams: list[str] = []
    for word in re.split(r"[\W_]+", text.lower()):
        for i in range(len(word) - 2):
            if word[i : i + 3] not in grams:
                grams.append(word[i : i + 3])
    return grams


def trigram_query(text: str) -> str | None:
    """An FTS5 query matching any trigram of the words of ``text`` (typo tolerant), or None."""
    grams = word_trigrams(text)
    if not grams:
        return None
    return " OR ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def search_tokenizer(con: sqlite3.Connection) -> str:
    """'trigram' when this SQLite has the FTS5 trigram tokenizer (3.34+), else 'unicode61'."""
    try:
        con.execute("CREATE VIRTUAL TABLE temp.__c360_probe USING fts5(x, tokenize='trigram')")
    except sqlite3.OperationalError:
        return "unicode61"
    con.execute("DROP TABLE temp.__c360_probe")
    return "trigram"


def search_text(value: str, tokenizer: str) -> str:
    """What the index holds for ``value``: the text (trigram tokenizer) or its trigrams as words."""
    return value if tokenizer == "trigram" else " ".join(word_trigrams(value))


def _grams(text: str) -> set[str]:
    text = f" {text.lower()} "
    return {text[i : i + 3] for i in range(len(text) - 2)}


def similarity(query: str, fields: list[str]) -> float:
    """Best trigram similarity (Jaccard) of each query word to any word of ``fields``, averaged."""
    words = [w for w in query.lower().split() if w]
    targets = [w for field in fields for w in (field or "").lower().replace("@", " ").split()]
    if not words or not targets:
        return 0.0
    total = 0.0
    for word in words:
        wg = _grams(word)
        total += max(len(wg & _grams(t)) / len(wg | _grams(t)) for t in targets)
    return total / len(words)


class ProfileStore:
    """Reads of the current version, each inside one read transaction (consistent with a publish)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            if not self.path.exists():
                raise StoreError(
                    f"no serving store at {self.path}", hint="publish first (`c360 run` publishes)"
                )
            con = connect_store(self.path, readonly=True)
            self._local.con = con
        return con

    @contextlib.contextmanager
    def read(self) -> Iterator[tuple[sqlite3.Connection, int]]:
        """(connection, current version) inside one read transaction."""
        con = self._con()
        con.execute("BEGIN")
        try:
            version = _current_version(con)
            if version is None:
                raise StoreError("the serving store has no published version", hint="publish first")
            yield con, version
        finally:
            con.execute("COMMIT")

    def info(self) -> dict[str, Any]:
        with self.read() as (con, version):
            count = con.execute(f"SELECT count(*) FROM profiles_v{version}").fetchone()[0]
            row = con.execute(
                "SELECT published_at, snapshot_date, customers FROM versions WHERE version = ?", (version,)
            ).fetchone()
        return {
            "version": version,
            "published_at": row[0] if row else None,
            "snapshot_date": row[1] if row else None,
            "customers": count,
        }

    def get_json(self, customer_id: int) -> str | None:
        """The stored profile document of ``customer_id``, as JSON text."""
        with self.read() as (con, version):
            row = con.execute(
                f"SELECT data FROM profiles_v{version} WHERE customer_id = ?", (customer_id,)
            ).fetchone()
        return row[0] if row else None

    def lookup(self, kind: str, value: str) -> list[dict[str, Any]]:
        """Profiles of every customer the identifier maps to (an e-mail may be shared)."""
        if kind == "email":
            value = value.strip().lower()
        with self.read() as (con, version):
            rows = con.execute(
                f"SELECT p.data FROM identifiers_v{version} AS i JOIN profiles_v{version} AS p "
                "ON p.customer_id = i.customer_id WHERE i.kind = ? AND i.value = ? ORDER BY p.customer_id",
                (kind, value),
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def search(self, text: str, limit: int, offset: int) -> tuple[int, list[tuple[float, dict[str, Any]]]]:
        """(candidates, page of (score, profile)): trigram candidates by bm25, re-ranked by similarity."""
        match = trigram_query(text)
        if match is None:
            return 0, []
        with self.read() as (con, version):
            rows = con.execute(
                f"SELECT p.data FROM search_v{version} AS s "
                f"JOIN profiles_v{version} AS p ON p.customer_id = s.rowid "
                f"WHERE search_v{version} MATCH ? ORDER BY bm25(search_v{version}) LIMIT ?",
                (match, SEARCH_CANDIDATES),
            ).fetchall()
        profiles = [json.loads(row[0]) for row in rows]
        scored = [
            (
                similarity(
                    text, [_joined(p, "first_name", "last_name"), p.get("email") or "", p.get("city") or ""]
                ),
                p,
            )
            for p in profiles
        ]
        scored.sort(key=lambda item: (-item[0], item[1]["customer_id"]))
        return len(scored), scored[offset : offset + limit]

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
