"""API keys, roles and the audit log of the serving API.

A key reads ``c360_<key id>_<secret>``. Only the key id, the role, a random salt and
``sha256(salt + secret)`` are stored (table ``api_keys`` of the serving store), so the key is shown
once, when created, and cannot be read back. A role says whether its keys see PII and may run SQL:

    admin    pii, sql
    analyst  sql (PII masked)
    app      pii (no SQL)

Every request is written to the ``audit_log`` table: who (key id and role), what (method, route
and parameters), when, the status and the rows returned. Rows are written by one background
thread in batches, so a request never waits for the disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import queue
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from c360.errors import C360Error
from c360.serve.store import connect_store, init_store, store_path

if TYPE_CHECKING:
    from c360.config import Project

KEY_PREFIX = "c360"
DEFAULT_ROLES: dict[str, dict[str, bool]] = {
    "admin": {"pii": True, "sql": True},
    "analyst": {"pii": False, "sql": True},
    "app": {"pii": True, "sql": False},
}


class AuthError(C360Error):
    exit_code = 2


@dataclass(frozen=True)
class Role:
    name: str
    pii: bool
    sql: bool


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role


def parse_roles(roles: dict[str, dict[str, bool]] | None) -> dict[str, Role]:
    result = {}
    for name, rights in (roles or DEFAULT_ROLES).items():
        unknown = set(rights) - {"pii", "sql"}
        if unknown:
            raise AuthError(
                f"role '{name}': unknown right(s) {', '.join(sorted(unknown))}", hint="use pii, sql"
            )
        result[name] = Role(name, bool(rights.get("pii", False)), bool(rights.get("sql", False)))
    return result


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256((salt + secret).encode()).hexdigest()


def create_key_at(path: Path, role: str, roles: dict[str, dict[str, bool]] | None = None) -> str:
    """Create a key with ``role`` in the store at ``path``; the returned key is never stored."""
    known = parse_roles(roles)
    if role not in known:
        raise AuthError(f"no role named '{role}'", hint=f"roles: {', '.join(known)}")
    init_store(path)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    salt = secrets.token_hex(16)
    con = connect_store(path)
    try:
        con.execute(
            "INSERT INTO api_keys (key_id, role, salt, hash, created_at) VALUES (?, ?, ?, ?, ?)",
            (key_id, role, salt, _digest(salt, secret), _now()),
        )
    finally:
        con.close()
    return f"{KEY_PREFIX}_{key_id}_{secret}"


def create_key(project: Project, role: str, roles: dict[str, dict[str, bool]] | None = None) -> str:
    return create_key_at(store_path(project), role, roles)


def revoke_key(path: Path, key_id: str) -> bool:
    con = connect_store(path)
    try:
        cursor = con.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (_now(), key_id)
        )
        return cursor.rowcount > 0
    finally:
        con.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class KeyChecker:
    """Verifies presented keys against the store (verified keys are cached for a few seconds)."""

    CACHE_SECONDS = 5.0

    def __init__(self, path: Path, roles: dict[str, Role]) -> None:
        self.path = path
        self.roles = roles
        self._local = threading.local()
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = connect_store(self.path, readonly=True)
            self._local.con = con
        return con

    def check(self, presented: str) -> Principal | None:
        import time

        now = time.monotonic()
        cached = self._cache.get(presented)
        if cached is not None and now - cached[0] < self.CACHE_SECONDS:
            return cached[1]
        principal = self._verify(presented)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[presented] = (now, principal)
        return principal

    def _verify(self, presented: str) -> Principal | None:
        parts = presented.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        _, key_id, secret = parts
        row = (
            self._con()
            .execute(
                "SELECT role, salt, hash FROM api_keys WHERE key_id = ? AND revoked_at IS NULL", (key_id,)
            )
            .fetchone()
        )
        if row is None or not hmac.compare_digest(_digest(row[1], secret), row[2]):
            return None
        role = self.roles.get(row[0])
        return Principal(key_id, role) if role is not None else None


class AuditLog:
    """Writes audit rows from a background thread; ``flush()`` waits until all are on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="c360-audit", daemon=True)
        self._thread.start()

    def write(
        self,
        principal: Principal | None,
        method: str,
        route: str,
        params: str,
        status: int,
        rows: int | None,
        duration_ms: float,
    ) -> None:
        self._queue.put(
            (
                _now(),
                principal.key_id if principal else None,
                principal.role.name if principal else None,
                method,
                route,
                params,
                status,
                rows,
                round(duration_ms, 3),
            )
        )

    def _run(self) -> None:
        con = connect_store(self.path)
        try:
            while True:
                item = self._queue.get()
                batch = [item]
                with contextlib.suppress(queue.Empty):
                    while len(batch) < 1000:
                        batch.append(self._queue.get_nowait())
                rows = [row for row in batch if row is not None]
                if rows:
                    try:
                        con.execute("BEGIN IMMEDIATE")
                        con.executemany(
                            "INSERT INTO audit_log (at, key_id, role, method, route, params, status, rows, "
                            "duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            rows,
                        )
                        con.execute("COMMIT")
                    except sqlite3.Error:
                        if con.in_transaction:
                            con.execute("ROLLBACK")
                for _ in batch:
                    self._queue.task_done()
                if None in batch:
                    return
        finally:
            con.close()

    def flush(self) -> None:
        self._queue.join()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)
