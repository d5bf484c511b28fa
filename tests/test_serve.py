"""The serving API over a small demo lake: profiles, lookups, search, SQL, segments, keys, audit."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from c360.config import Project, load_project
from c360.demo import run_demo
from c360.errors import C360Error
from c360.lake.catalog import open_catalog
from c360.lake.query import run_query
from c360.serve.app import create_app
from c360.serve.auth import create_key
from c360.serve.store import ProfileStore, publish, store_path, version_path

SEGMENTS = {"big_spenders": "lifetime_value > 10000", "french": "country = 'France'"}
LATEST = "snapshot_date = (SELECT max(snapshot_date) FROM analytics.customer_360)"  # the published snapshot


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    directory = tmp_path_factory.mktemp("serve") / "project"
    run_demo(directory, customers=800, seed=1)
    project = load_project(directory)
    publish(project)
    return project


@pytest.fixture(scope="session")
def keys(project: Project) -> dict[str, str]:
    return {role: create_key(project, role) for role in ("admin", "analyst", "app")}


@pytest.fixture(scope="session")
def client(project: Project) -> Iterator[TestClient]:
    app = create_app(project, segments=SEGMENTS, sql_timeout_seconds=0.5)
    with TestClient(app) as client:
        yield client


def lake(project: Project, sql: str) -> list[dict[str, Any]]:
    return run_query(open_catalog(project), sql).to_pylist()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sample(project: Project) -> dict[str, Any]:
    """A customer with an e-mail and a phone, in the published snapshot."""
    return lake(
        project,
        f"SELECT * FROM analytics.customer_360 WHERE {LATEST} AND email IS NOT NULL AND phone IS NOT NULL "
        "ORDER BY customer_id LIMIT 1",
    )[0]


def rare_name(project: Project) -> dict[str, Any]:
    """A customer whose last name (7 letters or more) no other customer has."""
    return lake(
        project,
        f"SELECT customer_id, last_name FROM analytics.customer_360 WHERE {LATEST} "
        "AND length(last_name) >= 7 "
        "AND last_name IN (SELECT last_name FROM analytics.customer_360 GROUP BY 1 HAVING count(*) = 1) "
        "ORDER BY customer_id LIMIT 1",
    )[0]


def ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.text
    return {row["customer_id"] for row in response.json()["customers"]}


# --- profiles, keys and roles ---------------------------------------------------------------------


def test_profile_by_id_for_admin_matches_the_lake(client: TestClient, keys: dict, project: Project) -> None:
    expected = sample(project)
    response = client.get(f"/v1/customers/{expected['customer_id']}", headers=auth(keys["admin"]))
    assert response.status_code == 200
    profile = response.json()
    assert profile["email"] == expected["email"]
    assert profile["last_name"] == expected["last_name"]
    assert profile["phone"] == expected["phone"]
    assert profile["lifetime_value"] == pytest.approx(float(expected["lifetime_value"]))
    assert profile["snapshot_date"] == expected["snapshot_date"].isoformat()


def test_pii_is_masked_for_analyst(client: TestClient, keys: dict, project: Project) -> None:
    expected = sample(project)
    profile = client.get(f"/v1/customers/{expected['customer_id']}", headers=auth(keys["analyst"])).json()
    local, domain = expected["email"].split("@")
    assert profile["email"] == f"{local[0]}***@{domain}"
    for column in ("first_name", "last_name", "phone", "address", "birth_date", "city", "country"):
        assert profile[column] in ("***", None), column
    # Columns that are not PII are untouched.
    assert profile["age_band"] == expected["age_band"]
    assert profile["value_tier"] == expected["value_tier"]


def test_x_api_key_header_and_app_role_sees_pii(client: TestClient, keys: dict, project: Project) -> None:
    expected = sample(project)
    response = client.get(f"/v1/customers/{expected['customer_id']}", headers={"X-API-Key": keys["app"]})
    assert response.status_code == 200
    assert response.json()["first_name"] == expected["first_name"]


def test_no_key_or_bad_key_is_401(client: TestClient, keys: dict) -> None:
    assert client.get("/v1/customers/1").status_code == 401
    assert client.get("/v1/customers/1", headers=auth("c360_nope_nope")).status_code == 401
    tampered = keys["admin"][:-2] + ("aa" if not keys["admin"].endswith("aa") else "bb")
    assert client.get("/v1/customers/1", headers=auth(tampered)).status_code == 401
    assert client.get("/v1/search", params={"q": "x"}).status_code == 401


def test_keys_are_stored_hashed(project: Project, keys: dict) -> None:
    with sqlite3.connect(store_path(project)) as con:
        rows = con.execute("SELECT key_id, role, salt, hash FROM api_keys").fetchall()
    secrets = {key.split("_", 2)[2] for key in keys.values()}
    assert {row[1] for row in rows} >= {"admin", "analyst", "app"}
    for _, _, salt, digest in rows:
        assert len(salt) == 32 and len(digest) == 64
        assert not any(secret in (salt, digest) for secret in secrets)


def test_unknown_role_is_refused(project: Project) -> None:
    with pytest.raises(C360Error, match="no role named 'root'"):
        create_key(project, "root")


def test_unknown_customer_is_404_and_malformed_is_422(client: TestClient, keys: dict) -> None:
    headers = auth(keys["admin"])
    response = client.get("/v1/customers/999999999", headers=headers)
    assert response.status_code == 404
    assert "999999999" in response.json()["detail"]
    assert client.get("/v1/customers/abc", headers=headers).status_code == 422
    assert client.get("/v1/customers", headers=headers).status_code == 422
    assert client.get("/v1/customers", params={"client_id": "x"}, headers=headers).status_code == 422
    assert (
        client.get("/v1/customers", params={"client_id": 1, "email": "a@b.c"}, headers=headers).status_code
        == 422
    )
    assert client.get("/v1/search", headers=headers).status_code == 422
    assert client.get("/v1/search", params={"q": "ab", "limit": 0}, headers=headers).status_code == 422
    assert client.post("/v1/sql", json={}, headers=headers).status_code == 422


# --- lookups by every identifier kind --------------------------------------------------------------


def customers_of(project: Project, source: str, keys_sql: str) -> set[int]:
    """The resolved customers (identity.record_customers) of the ``source`` records ``keys_sql`` names."""
    return {
        row["customer_id"]
        for row in lake(
            project,
            f"SELECT DISTINCT customer_id FROM identity.record_customers WHERE source = '{source}' "
            f"AND record_key IN ({keys_sql}) "
            "AND customer_id IN (SELECT customer_id FROM analytics.customer_360)",
        )
    }


def test_lookup_by_client_id_email_and_phone(client: TestClient, keys: dict, project: Project) -> None:
    headers = auth(keys["admin"])
    expected = lake(
        project,
        f"SELECT * FROM analytics.customer_360 WHERE {LATEST} AND client_id IS NOT NULL AND crm_clients = 1 "
        "ORDER BY customer_id LIMIT 1",
    )[0]
    cid = expected["customer_id"]
    response = client.get("/v1/customers", params={"client_id": expected["client_id"]}, headers=headers)
    assert ids(response) == {cid}
    # Every CRM client with the e-mail, through the customer it resolved to, and the profile itself.
    email = lake(
        project,
        f"SELECT email FROM stage.crm WHERE client_id = {expected['client_id']} AND email IS NOT NULL",
    )[0]["email"]
    owners = customers_of(
        project, "crm", f"SELECT CAST(client_id AS VARCHAR) FROM stage.crm WHERE email = '{email}'"
    )
    response = client.get("/v1/customers", params={"email": email.upper()}, headers=headers)
    assert owners <= ids(response) and cid in owners
    phone = expected["phone"]
    response = client.get("/v1/customers", params={"phone": phone}, headers=headers)
    assert cid in ids(response)


def test_lookup_by_visitor_id(client: TestClient, keys: dict, project: Project) -> None:
    row = lake(
        project,
        "SELECT full_visitor_id, list(DISTINCT CAST(client_id AS VARCHAR)) AS clients "
        "FROM stage.web_visitors "
        "GROUP BY 1 HAVING count(DISTINCT client_id) > 1 ORDER BY 1 LIMIT 1",
    )
    row = row or lake(
        project,
        "SELECT full_visitor_id, list(DISTINCT CAST(client_id AS VARCHAR)) AS clients "
        "FROM stage.web_visitors "
        "GROUP BY 1 ORDER BY 1 LIMIT 1",
    )
    visitor, clients = row[0]["full_visitor_id"], row[0]["clients"]
    # A browser belongs to the customers of every client who logged in from it, and to its own record's.
    want = customers_of(project, "crm", ", ".join(f"'{c}'" for c in clients))
    want |= customers_of(project, "web_visitors", f"'{visitor}'")
    response = client.get("/v1/customers", params={"visitor_id": visitor}, headers=auth(keys["admin"]))
    assert ids(response) == want and len(want) >= 1


def test_lookup_by_user_id_goes_through_identity(client: TestClient, keys: dict, project: Project) -> None:
    rows = lake(
        project, "SELECT CAST(user_id AS VARCHAR) AS user_id FROM stage.store_users ORDER BY 1 LIMIT 3"
    )
    assert rows
    for row in rows:
        response = client.get("/v1/customers", params={"user_id": row["user_id"]}, headers=auth(keys["app"]))
        assert ids(response) == customers_of(project, "store_users", f"'{row['user_id']}'")
    response = client.get("/v1/customers", params={"user_id": 1}, headers=auth(keys["app"]))
    assert response.status_code == 404


def test_lookup_by_order_id_and_unknown_identifier(client: TestClient, keys: dict, project: Project) -> None:
    row = lake(project, "SELECT order_id FROM stage.retail_orders ORDER BY 1 LIMIT 1")[0]
    want = customers_of(
        project,
        "retail_orders",
        f"SELECT CAST(row_id AS VARCHAR) FROM stage.retail_orders WHERE order_id = '{row['order_id']}'",
    )
    response = client.get("/v1/customers", params={"order_id": row["order_id"]}, headers=auth(keys["admin"]))
    assert ids(response) == want and want
    response = client.get(
        "/v1/customers", params={"email": "nobody@nowhere.invalid"}, headers=auth(keys["admin"])
    )
    assert response.status_code == 404


def test_identifier_map_keeps_source_record_keys(project: Project) -> None:
    with sqlite3.connect(store_path(project)) as con:
        version = int(
            con.execute("SELECT value FROM serving_meta WHERE key = 'current_version'").fetchone()[0]
        )
    with sqlite3.connect(version_path(store_path(project), version)) as con:
        sources = {
            row[0]
            for row in con.execute(
                "SELECT DISTINCT substr(value, 1, instr(value, ':') - 1) FROM identifiers "
                "WHERE kind = 'record'"
            )
        }
    assert {"crm", "web_visitors", "store_users", "retail_orders", "dispositions"} <= sources


# --- history, search, segments ---------------------------------------------------------------------


def test_history_reads_every_snapshot_from_the_lake(client: TestClient, keys: dict, project: Project) -> None:
    cid = sample(project)["customer_id"]
    snapshots = lake(
        project, f"SELECT snapshot_date FROM analytics.customer_360 WHERE customer_id = {cid} ORDER BY 1"
    )
    response = client.get(f"/v1/customers/{cid}/history", headers=auth(keys["analyst"]))
    assert response.status_code == 200
    body = response.json()
    assert [s["snapshot_date"] for s in body["snapshots"]] == [
        r["snapshot_date"].isoformat() for r in snapshots
    ]
    assert body["snapshots"][0]["first_name"] == "***"
    assert client.get("/v1/customers/999999999/history", headers=auth(keys["admin"])).status_code == 404


def test_search_finds_a_customer_by_a_typod_last_name(
    client: TestClient, keys: dict, project: Project
) -> None:
    target = rare_name(project)
    name = target["last_name"]
    typo = name[:3] + name[4:]  # one letter dropped
    response = client.get("/v1/search", params={"q": typo, "limit": 5}, headers=auth(keys["admin"]))
    assert response.status_code == 200
    body = response.json()
    assert body["results"][0]["customer_id"] == target["customer_id"], (typo, body["results"])
    assert body["results"][0]["last_name"] == name
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_search_paginates(client: TestClient, keys: dict) -> None:
    headers = auth(keys["admin"])
    first = client.get("/v1/search", params={"q": "gmail", "limit": 5}, headers=headers).json()
    second = client.get("/v1/search", params={"q": "gmail", "limit": 5, "offset": 5}, headers=headers).json()
    assert first["total"] > 10 and len(first["results"]) == len(second["results"]) == 5
    assert not {r["customer_id"] for r in first["results"]} & {r["customer_id"] for r in second["results"]}


def test_segment_matches_its_predicate_on_the_lake(client: TestClient, keys: dict, project: Project) -> None:
    expected = lake(
        project,
        f"SELECT customer_id FROM analytics.customer_360 WHERE {LATEST} AND lifetime_value > 10000 "
        "ORDER BY 1",
    )
    response = client.get("/v1/segments/big_spenders", params={"limit": 10}, headers=auth(keys["analyst"]))
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == len(expected)
    assert [c["customer_id"] for c in body["customers"]] == [r["customer_id"] for r in expected[:10]]
    assert all(c["last_name"] in ("***", None) for c in body["customers"])
    assert client.get("/v1/segments/nope", headers=auth(keys["analyst"])).status_code == 404
    assert client.get("/v1/segments", headers=auth(keys["app"])).json()["segments"] == SEGMENTS


def test_a_segment_that_is_not_a_predicate_is_refused(project: Project) -> None:
    with pytest.raises(C360Error, match="segment 'bad'"):
        create_app(project, segments={"bad": "1=1); DROP TABLE x; --"})


# --- SQL ------------------------------------------------------------------------------------------


def test_sql_runs_and_truncates(client: TestClient, keys: dict, project: Project) -> None:
    headers = auth(keys["admin"])
    total = lake(project, "SELECT count(*) AS n FROM analytics.customer_360")[0]["n"]
    body = client.post(
        "/v1/sql", json={"sql": "SELECT customer_id FROM analytics.customer_360", "limit": 5}, headers=headers
    ).json()
    assert body["truncated"] is True and body["row_count"] == 5 and body["columns"] == ["customer_id"]
    body = client.post(
        "/v1/sql",
        json={"sql": "WITH c AS (SELECT * FROM analytics.customer_360) SELECT count(*) AS n FROM c"},
        headers=headers,
    ).json()
    assert body["rows"] == [[total]] and body["truncated"] is False


def test_sql_masks_pii_for_analyst_and_refuses_stage(
    client: TestClient, keys: dict, project: Project
) -> None:
    expected = sample(project)
    sql = f"SELECT email, last_name FROM analytics.customer_360 WHERE customer_id = {expected['customer_id']}"
    analyst = client.post("/v1/sql", json={"sql": sql}, headers=auth(keys["analyst"])).json()
    admin = client.post("/v1/sql", json={"sql": sql}, headers=auth(keys["admin"])).json()
    assert admin["rows"][0] == [expected["email"], expected["last_name"]]
    assert analyst["rows"][0][1] == "***" and analyst["rows"][0][0].split("@")[0].endswith("***")
    response = client.post("/v1/sql", json={"sql": "SELECT * FROM stage.crm"}, headers=auth(keys["analyst"]))
    assert response.status_code == 403
    assert client.post("/v1/sql", json={"sql": "SELECT 1"}, headers=auth(keys["app"])).status_code == 403


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_text('/etc/passwd')",
        "COPY (SELECT * FROM analytics.customer_360) TO '/tmp/c360_stolen.csv'",
        "ATTACH '/tmp/c360_other.db' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "PRAGMA enable_external_access",
        "CREATE TABLE t AS SELECT 1",
        "DROP TABLE analytics.customer_360",
        "SELECT 1; SELECT 2",
        "SELECT 1; COPY (SELECT 1) TO '/tmp/c360_x.csv'",
        "SELECT getenv('HOME')",
        "SELECT * FROM glob('/*')",
        "SELEC nonsense",
    ],
)
def test_sql_escape_attempts_are_refused(client: TestClient, keys: dict, sql: str) -> None:
    response = client.post("/v1/sql", json={"sql": sql}, headers=auth(keys["admin"]))
    assert response.status_code == 400, response.text


def test_duckdb_is_locked_even_if_the_parser_let_it_through(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import c360.serve.sql as serve_sql

    monkeypatch.setattr(serve_sql, "check_sql", lambda sql: ["analytics.customer_360"])
    catalog = open_catalog(project)
    run = lambda sql: serve_sql.run_sql(  # noqa: E731
        catalog, sql, limit=10, timeout_seconds=5, pii=True, pii_columns={}
    )
    # The registered lake table still reads after the lock...
    assert run("SELECT count(*) FROM analytics.customer_360").rows[0][0] > 0
    # ...but files, extensions and settings do not.
    for sql in (
        "SELECT * FROM read_csv('/etc/passwd')",
        "COPY (SELECT 1) TO '/tmp/c360_locked.csv'",
        "ATTACH '/tmp/c360_locked.db'",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
    ):
        with pytest.raises(serve_sql.SqlRefused):
            run(sql)
    assert not Path("/tmp/c360_locked.csv").exists()


def test_sql_time_limit(client: TestClient, keys: dict) -> None:
    sql = "SELECT sum(a.range * b.range) FROM range(1000000) AS a, range(1000000) AS b"
    response = client.post("/v1/sql", json={"sql": sql}, headers=auth(keys["admin"]))
    assert response.status_code == 408
    assert "longer than 0.5 s" in response.json()["detail"]


# --- operations: health, metrics, docs, audit ------------------------------------------------------


def test_health_metrics_and_docs(client: TestClient, keys: dict, project: Project) -> None:
    client.get("/v1/customers/999999999", headers=auth(keys["admin"]))
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    count = lake(project, f"SELECT count(*) AS n FROM analytics.customer_360 WHERE {LATEST}")[0]["n"]
    assert health.json()["customers"] == count
    text = client.get("/metrics").text
    assert 'c360_http_requests_total{method="GET",route="/v1/customers/{customer_id}",status="404"}' in text
    assert 'c360_http_request_duration_seconds_bucket{method="GET",route="/health",le="+Inf"}' in text
    assert "# TYPE c360_http_request_duration_seconds histogram" in text
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/customers/{customer_id}", "/v1/customers", "/v1/search", "/v1/sql"} <= set(paths)


def test_every_request_is_audited(client: TestClient, keys: dict, project: Project) -> None:
    cid = sample(project)["customer_id"]
    key_id = keys["analyst"].split("_")[1]
    client.get(f"/v1/customers/{cid}", headers=auth(keys["analyst"]))
    client.get("/v1/customers/424242", headers={"X-API-Key": "c360_bogus_key"})
    client.post("/v1/sql", json={"sql": "SELECT 42 AS answer"}, headers=auth(keys["analyst"]))
    client.app.state.audit.flush()
    with sqlite3.connect(store_path(project)) as con:
        rows = con.execute(
            "SELECT key_id, role, method, route, params, status, rows, at FROM audit_log ORDER BY id"
        ).fetchall()
    profile = [
        r for r in rows if r[0] == key_id and r[3] == "/v1/customers/{customer_id}" and str(cid) in r[4]
    ]
    assert profile and profile[-1][1:3] == ("analyst", "GET") and profile[-1][5:7] == (200, 1)
    assert profile[-1][7].startswith("20")
    refused = [r for r in rows if "424242" in r[4]]
    assert refused and refused[-1][0] is None and refused[-1][5] == 401
    sql = [r for r in rows if r[3] == "/v1/sql" and "SELECT 42" in r[4]]
    assert sql and sql[-1][5:7] == (200, 1)


# --- atomic publish --------------------------------------------------------------------------------


def test_readers_only_see_complete_versions_during_republish(
    client: TestClient, keys: dict, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import c360.serve.store as serve_store

    # Small write transactions: a new version is filled by many commits, none of which may show.
    monkeypatch.setattr(serve_store, "BATCH_ROWS", 20)
    cid = sample(project)["customer_id"]
    full = client.get("/health").json()["customers"]
    store = ProfileStore(store_path(project))
    reader = TestClient(client.app)
    stop = threading.Event()
    problems: list[str] = []
    versions: set[int] = set()
    reads = [0]

    def hammer_api() -> None:
        while not stop.is_set():
            response = reader.get(f"/v1/customers/{cid}", headers=auth(keys["app"]))
            if response.status_code != 200 or response.json()["customer_id"] != cid:
                problems.append(f"profile: {response.status_code} {response.text[:100]}")
            reads[0] += 1

    def hammer_count() -> None:
        while not stop.is_set():
            info = store.info()
            versions.add(info["version"])
            if info["customers"] != full:
                problems.append(f"version {info['version']} has {info['customers']} customers, not {full}")

    threads = [threading.Thread(target=hammer_api), threading.Thread(target=hammer_count)]
    for thread in threads:
        thread.start()
    try:
        results = [publish(project) for _ in range(3)]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not problems, problems[:5]
    assert reads[0] > 10
    assert all(r.customers == full for r in results)
    assert len(versions) >= 2  # the reader saw the pointer move
    kept = {path.name for path in store_path(project).parent.glob("serving-v*.db")}
    last = results[-1].version
    assert kept == {f"serving-v{last}.db", f"serving-v{last - 1}.db"}  # the current and the previous


def test_a_publish_killed_before_its_switch_leaves_readers_on_the_old_version(
    client: TestClient, project: Project
) -> None:
    path = store_path(project)
    with sqlite3.connect(path) as con:
        current = int(
            con.execute("SELECT value FROM serving_meta WHERE key = 'current_version'").fetchone()[0]
        )
        # What a publish killed half-way leaves: the next version's tables, partly filled.
        con.execute(f"CREATE TABLE profiles_v{current + 1} (customer_id INTEGER PRIMARY KEY, data TEXT)")
        con.execute(f"INSERT INTO profiles_v{current + 1} VALUES (1, '{{}}')")
    full = lake(project, f"SELECT count(*) AS n FROM analytics.customer_360 WHERE {LATEST}")[0]["n"]
    health = client.get("/health").json()
    assert (health["version"], health["customers"]) == (current, full)
    result = publish(project)
    assert result.version == current + 1 and result.customers == full
    assert client.get("/health").json()["customers"] == full


def test_revoked_key_and_custom_roles(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from c360.serve.auth import KeyChecker, revoke_key

    monkeypatch.setattr(KeyChecker, "CACHE_SECONDS", 0.0)
    roles = {"support": {"pii": True, "sql": False}, "auditor": {"pii": False, "sql": True}}
    support = create_key(project, "support", roles)
    auditor = create_key(project, "auditor", roles)
    cid = sample(project)["customer_id"]
    with TestClient(create_app(project, roles=roles)) as api:
        profile = api.get(f"/v1/customers/{cid}", headers=auth(support)).json()
        assert profile["first_name"] not in ("***", None)
        assert api.post("/v1/sql", json={"sql": "SELECT 1"}, headers=auth(support)).status_code == 403
        assert api.post("/v1/sql", json={"sql": "SELECT 1"}, headers=auth(auditor)).status_code == 200
        assert api.get(f"/v1/customers/{cid}", headers=auth(auditor)).json()["first_name"] == "***"
        assert revoke_key(store_path(project), support.split("_")[1])
        assert api.get(f"/v1/customers/{cid}", headers=auth(support)).status_code == 401


def test_publish_needs_customer_360_and_health_needs_a_version(tmp_path: Path) -> None:
    from c360.serve.store import StoreError

    (tmp_path / "c360.toml").write_text('[lake]\npath = "lake"\n', encoding="utf-8")
    empty = load_project(tmp_path)
    with pytest.raises(StoreError, match=r"no table analytics\.customer_360"):
        publish(empty)
    key = create_key(empty, "admin")
    with TestClient(create_app(empty)) as api:
        assert api.get("/health").status_code == 503
        assert api.get("/v1/customers/1", headers=auth(key)).status_code == 503


def test_history_spans_snapshots(client: TestClient, keys: dict, project: Project) -> None:
    """An older snapshot of one customer (appended to the lake) shows in the history, oldest first."""
    from datetime import timedelta

    import pyarrow as pa

    from c360.lake.tables import load_table

    catalog = open_catalog(project)
    table = load_table(catalog, "analytics.customer_360")
    cid = sample(project)["customer_id"]
    current = run_query(
        catalog, f"SELECT * FROM analytics.customer_360 WHERE customer_id = {cid} AND {LATEST}"
    )
    older = current.to_pylist()[0]
    older["snapshot_date"] -= timedelta(days=30)
    older["lifetime_value"] = 1
    table.append(pa.Table.from_pylist([older], schema=table.schema().as_arrow()))
    body = client.get(f"/v1/customers/{cid}/history", headers=auth(keys["admin"])).json()
    dates = [s["snapshot_date"] for s in body["snapshots"]]
    assert dates == [older["snapshot_date"].isoformat(), current.to_pylist()[0]["snapshot_date"].isoformat()]
    assert body["snapshots"][0]["lifetime_value"] == 1
    # The profile store still serves the latest snapshot.
    profile = client.get(f"/v1/customers/{cid}", headers=auth(keys["admin"])).json()
    assert profile["snapshot_date"] == dates[-1]
