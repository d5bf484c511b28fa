"""The PostgreSQL profile store against the local server: the same answers as the SQLite store on
the same lake, atomic publish under a reading thread, and the choice of store from c360.toml."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from c360.config import Project, load_project
from c360.errors import C360Error
from c360.serve.store import ProfileStore, open_store, publish, store_path
from c360.serve.store_postgres import PostgresProfileStore, publish_postgres
from tests.test_serve_store import CUSTOMERS, RARE, SHARED_EMAIL, expected_document, make_lake


def drop_schemas(url: str, prefix: str) -> None:
    with psycopg.connect(url, autocommit=True) as con:
        rows = con.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s",
            (prefix, prefix.replace("_", r"\_") + r"\_v%"),
        ).fetchall()
        for (name,) in rows:
            con.execute(f"DROP SCHEMA {name} CASCADE")


def schemas(url: str, prefix: str) -> set[str]:
    with psycopg.connect(url) as con:
        rows = con.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (prefix.replace("_", r"\_") + r"\_v%",)
        ).fetchall()
    return {row[0] for row in rows}


@pytest.fixture(scope="module")
def prefix(postgres_url: str) -> Iterator[str]:
    name = f"c360_test_{uuid.uuid4().hex[:8]}"
    yield name
    drop_schemas(postgres_url, name)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = make_lake(tmp_path_factory.mktemp("pgstore") / "project")
    publish(project)  # the SQLite store, to compare with
    return project


@pytest.fixture(scope="module")
def pg(lake: Project, postgres_url: str, prefix: str) -> PostgresProfileStore:
    told: dict[str, int] = {}
    result = publish_postgres(
        lake, postgres_url, prefix, lambda part, rows: told.update({part: told.get(part, 0) + rows})
    )
    assert (result.version, result.customers) == (1, CUSTOMERS - 1)
    assert told["profiles"] == told["search"] == CUSTOMERS - 1 and told["identifiers"] == result.identifiers
    return PostgresProfileStore(postgres_url, prefix)


def test_documents_and_lookups_equal_the_sqlite_store(pg: PostgresProfileStore, lake: Project) -> None:
    sqlite = ProfileStore(store_path(lake))
    for cid in (1, 10, 15, RARE, CUSTOMERS - 1, CUSTOMERS):
        assert pg.get_json(cid) == sqlite.get_json(cid)
    assert json.loads(pg.get_json(RARE) or "{}") == expected_document(RARE)
    assert [p["customer_id"] for p in pg.lookup("email", SHARED_EMAIL.upper())] == [10, 11]
    for kind, value in (
        ("phone", "+33612340042"),
        ("client_id", "7"),
        ("record", "crm:9"),
        ("email", "x@y"),
    ):
        assert pg.lookup_json(kind, value) == sqlite.lookup_json(kind, value)
    assert pg.identifiers(42) == sqlite.identifiers(42) and len(pg.identifiers(42)) == 4
    values = [str(cid) for cid in range(1, 300)]
    assert pg.customer_ids("client_id", values) == sqlite.customer_ids("client_id", values)
    info = pg.info()
    assert (info["version"], info["customers"], info["snapshot_date"]) == (1, CUSTOMERS - 1, "2024-05-02")


@pytest.mark.parametrize(
    "query",
    ["smith", "smit", "zoe garcia", "krakow", "Wojciehowski", "bartholomew wojciechowsk", "mail", "!!"],
)
def test_search_ranks_as_the_sqlite_store(pg: PostgresProfileStore, lake: Project, query: str) -> None:
    sqlite = ProfileStore(store_path(lake))
    total, page = pg.search(query, 20, 0)
    expected_total, expected = sqlite.search(query, 20, 0)
    assert total == expected_total
    assert [(score, p["customer_id"]) for score, p in page] == [(s, p["customer_id"]) for s, p in expected]


def test_readers_only_see_complete_versions(lake: Project, postgres_url: str, prefix: str) -> None:
    name = f"{prefix}_atomic"
    try:
        publish_postgres(lake, postgres_url, name)
        reader = PostgresProfileStore(postgres_url, name)
        stop = threading.Event()
        problems: list[str] = []
        seen: set[int] = set()

        def hammer() -> None:
            while not stop.is_set():
                info = reader.info()
                seen.add(info["version"])
                if info["customers"] != CUSTOMERS - 1:
                    problems.append(f"version {info['version']}: {info['customers']} customers")
                if reader.get_json(RARE) is None or len(reader.lookup("email", SHARED_EMAIL)) != 2:
                    problems.append(f"version {info['version']}: a profile or an identifier is missing")

        thread = threading.Thread(target=hammer)
        thread.start()
        try:
            results = [publish_postgres(lake, postgres_url, name) for _ in range(3)]
        finally:
            stop.set()
            thread.join(timeout=30)
        assert not problems, problems[:5]
        assert [r.version for r in results] == [2, 3, 4]
        assert len(seen) >= 2
        assert schemas(postgres_url, name) == {f"{name}_v3", f"{name}_v4"}  # the current and the previous
        # What a publish killed before its switch leaves: the next version's schema, partly filled.
        with psycopg.connect(postgres_url, autocommit=True) as con:
            con.execute(f"CREATE SCHEMA {name}_v5")
            con.execute(f"CREATE TABLE {name}_v5.profiles (customer_id bigint, data text)")
        assert reader.info()["version"] == 4
        assert publish_postgres(lake, postgres_url, name).version == 6
        assert reader.info() | {"published_at": None} == {
            "version": 6,
            "published_at": None,
            "snapshot_date": "2024-05-02",
            "customers": CUSTOMERS - 1,
        }
    finally:
        drop_schemas(postgres_url, name)


def test_store_url_in_config_picks_postgres(tmp_path: Path, lake: Project, postgres_url: str) -> None:
    config = (lake.root / "c360.toml").read_text(encoding="utf-8")
    (tmp_path / "c360.toml").write_text(
        config.replace('path = "lake"', f'path = "{lake.lake_dir}"')
        + f'\n[serve]\nstore_url = "{postgres_url}"\n',
        encoding="utf-8",
    )
    project = load_project(tmp_path)
    try:
        result = publish(project)
        store = open_store(project)
        assert isinstance(store, PostgresProfileStore)
        assert store.info()["version"] == result.version
        assert store.get_json(RARE) == ProfileStore(store_path(lake)).get_json(RARE)
        # The API serves profiles from PostgreSQL; keys and audit stay in the SQLite file.
        from fastapi.testclient import TestClient

        from c360.serve.app import create_app
        from c360.serve.auth import create_key

        headers = {"Authorization": f"Bearer {create_key(project, 'app')}"}
        with TestClient(create_app(project)) as api:
            assert api.get(f"/v1/customers/{RARE}", headers=headers).json() == expected_document(RARE)
            found = api.get("/v1/customers", params={"email": SHARED_EMAIL}, headers=headers).json()
            assert [row["customer_id"] for row in found["customers"]] == [10, 11]
            assert api.get("/health").json()["version"] == result.version
    finally:
        drop_schemas(postgres_url, "c360_serving")


def test_unreachable_server_and_empty_store_are_store_errors(postgres_url: str, prefix: str) -> None:
    with pytest.raises(C360Error, match="cannot connect to the PostgreSQL profile store") as error:
        PostgresProfileStore("postgresql://nobody:secret@127.0.0.1:1/none").info()
    assert "secret" not in str(error.value)  # the password stays out of messages
    with pytest.raises(C360Error, match="no published version"):
        PostgresProfileStore(postgres_url, f"{prefix}_empty").get_json(1)
