"""The SQLite profile store over a small hand-made lake: documents, lookups, search, atomic publish."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from c360.config import Project, load_project
from c360.lake.catalog import open_catalog
from c360.lake.tables import append_rows, ensure_table
from c360.serve.search import CANDIDATES, NORMALIZE_SQL, Vocabulary, normalize, query_words
from c360.serve.store import ProfileStore, open_store, publish, store_path, version_path

FIRST = ["Anna", "Jean", "Zoë", "Piotr", "Mary", "Liam", "Sofía", "Kenji"]
LAST = ["Smith", "Smithson", "Dubois", "Nowak", "García", "Tanaka", "Brown", "Jones"]
CITIES = [("Paris", "France"), ("Kraków", "Poland"), ("São Paulo", "Brazil"), ("Osaka", "Japan")]
CUSTOMERS = 240  # ids 1..240 in the older snapshot; 240 is absent from the latest one
RARE = 77  # the only customer named Wojciechowski
SHARED_EMAIL = "family.shared@example.org"  # clients 10 and 11


def customer_row(cid: int, snapshot: date) -> dict[str, Any]:
    first, last = FIRST[cid % len(FIRST)], LAST[(cid // len(FIRST)) % len(LAST)]
    if cid == RARE:
        first, last = "Bartholomew", "Wojciechowski"
    city, country = CITIES[cid % len(CITIES)]
    email = SHARED_EMAIL if cid in (10, 11) else f"{first.lower()}.{last.lower()}{cid}@mail.test"
    return {
        "customer_id": cid,
        "snapshot_date": snapshot,
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": f"+3361234{cid:04d}",
        "city": city,
        "country": country,
        "birth_date": date(1960 + cid % 40, 1 + cid % 12, 1 + cid % 28),
        "lifetime_value": Decimal(f"{cid * 10}.25") if snapshot.day == 2 else Decimal("1.00"),
        "avg_order_value": [math.nan, math.inf, None][cid % 3] if cid % 5 == 0 else cid / 3,
        "head_of_household": cid % 2 == 0,
        "last_seen": datetime(2024, 5, 1, 12, 30, cid % 60),
    }


PROFILE_SCHEMA = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("snapshot_date", pa.date32()),
        ("first_name", pa.string()),
        ("last_name", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("city", pa.string()),
        ("country", pa.string()),
        ("birth_date", pa.date32()),
        ("lifetime_value", pa.decimal128(18, 2)),
        ("avg_order_value", pa.float64()),
        ("head_of_household", pa.bool_()),
        ("last_seen", pa.timestamp("us")),
    ]
)
CRM_SCHEMA = pa.schema(
    [
        ("client_id", pa.int64()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("_c360_batch_id", pa.string()),
        ("_c360_record", pa.int64()),
    ]
)
RECORDS_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("source", pa.string()),
        ("record_key", pa.string()),
        ("customer_id", pa.int64()),
    ]
)


def make_lake(directory: Path) -> Project:
    """A project whose lake holds two customer_360 snapshots, the CRM stage table and its identity map."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "c360.toml").write_text('[lake]\npath = "lake"\n', encoding="utf-8")
    project = load_project(directory)
    catalog = open_catalog(project)
    older = [customer_row(cid, date(2024, 5, 1)) for cid in range(1, CUSTOMERS + 1)]
    latest = [customer_row(cid, date(2024, 5, 2)) for cid in range(1, CUSTOMERS)]
    table = ensure_table(catalog, "analytics.customer_360", PROFILE_SCHEMA)
    append_rows(table, pa.Table.from_pylist(older + latest, schema=PROFILE_SCHEMA))
    crm = [
        {
            "client_id": cid,
            "email": f"  {row['email'].upper()} " if cid % 4 == 0 else row["email"],
            "phone": row["phone"],
            "_c360_batch_id": "b1",
            "_c360_record": cid,
        }
        for cid, row in ((r["customer_id"], r) for r in older)
    ]
    append_rows(ensure_table(catalog, "stage.crm", CRM_SCHEMA), pa.Table.from_pylist(crm, schema=CRM_SCHEMA))
    # The identity step's assignment: CRM client n is customer n.
    assigned = [
        {"record_id": f"crm:{cid}", "source": "crm", "record_key": str(cid), "customer_id": cid}
        for cid in range(1, CUSTOMERS + 1)
    ]
    append_rows(
        ensure_table(catalog, "identity.record_customers", RECORDS_SCHEMA),
        pa.Table.from_pylist(assigned, schema=RECORDS_SCHEMA),
    )
    return project


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return make_lake(tmp_path_factory.mktemp("store") / "project")


@pytest.fixture(scope="module")
def store(lake: Project) -> ProfileStore:
    publish(lake)
    return ProfileStore(store_path(lake))


def expected_document(cid: int) -> dict[str, Any]:
    row = customer_row(cid, date(2024, 5, 2))
    value = row["avg_order_value"]
    return {
        **row,
        "snapshot_date": "2024-05-02",
        "birth_date": row["birth_date"].isoformat(),
        "last_seen": row["last_seen"].isoformat(),
        "lifetime_value": float(row["lifetime_value"]),
        "avg_order_value": value if value is not None and math.isfinite(value) else None,
    }


# --- documents and lookups -------------------------------------------------------------------------


def test_documents_are_the_latest_snapshot_as_json(store: ProfileStore) -> None:
    for cid in (1, 5, 10, 15, 42, RARE, CUSTOMERS - 1):
        document = store.get_json(cid)
        assert document is not None
        parsed = json.loads(document)  # strict JSON: no NaN or Infinity tokens
        assert parsed == expected_document(cid)
        assert list(parsed) == PROFILE_SCHEMA.names  # every column, in the table's order
    assert store.get_json(CUSTOMERS) is None  # only in the older snapshot
    info = store.info()
    assert (info["version"], info["customers"], info["snapshot_date"]) == (1, CUSTOMERS - 1, "2024-05-02")


def test_lookups_by_email_phone_client_id_and_record(store: ProfileStore) -> None:
    assert [p["customer_id"] for p in store.lookup("email", f" {SHARED_EMAIL.upper()}")] == [10, 11]
    # The CRM held this e-mail upper-case with blanks; the map holds it normalized.
    upper = customer_row(8, date(2024, 5, 2))["email"]
    assert [p["customer_id"] for p in store.lookup("email", upper)] == [8]
    assert store.lookup_json("phone", "+33612340042") == [store.get_json(42)]
    assert [p["customer_id"] for p in store.lookup("client_id", "7")] == [7]
    assert [p["customer_id"] for p in store.lookup("record", "crm:9")] == [9]
    # Identifiers of a customer absent from the published snapshot are not mapped.
    assert store.lookup("client_id", str(CUSTOMERS)) == []
    assert store.lookup("email", "nobody@mail.test") == []


def test_reverse_map_and_many_values_at_once(store: ProfileStore) -> None:
    assert store.identifiers(42) == [
        ("client_id", "42"),
        ("email", customer_row(42, date(2024, 5, 2))["email"]),
        ("phone", "+33612340042"),
        ("record", "crm:42"),
    ]
    assert store.identifiers(CUSTOMERS) == []
    values = [str(cid) for cid in range(1, 1200)]  # more than one IN (...) chunk
    found = store.customer_ids("client_id", values)
    assert found["7"] == (7,) and found[str(CUSTOMERS)] == () and found["1199"] == ()
    assert sum(1 for customers in found.values() if customers) == CUSTOMERS - 1
    assert store.customer_ids("email", [SHARED_EMAIL]) == {SHARED_EMAIL: (10, 11)}


# --- search ----------------------------------------------------------------------------------------


def names(page: list[tuple[float, dict[str, Any]]]) -> list[tuple[str, str]]:
    return [(p["first_name"], p["last_name"]) for _, p in page]


def test_search_exact_beats_prefix_and_ranks_by_field(store: ProfileStore) -> None:
    total, page = store.search("smith", 100, 0)
    smiths = sum(
        1 for cid in range(1, CUSTOMERS) if customer_row(cid, date(2024, 5, 2))["last_name"] == "Smith"
    )
    # Exact matches first (the name outranks the e-mail, where "smith" is a whole word too)...
    assert {last for _, last in names(page[:smiths])} == {"Smith"}
    assert all(score == 1.0 for score, _ in page[:smiths])
    # ... and "Smithson" only as a prefix match when the page asks for more than the exact ones.
    total, page = store.search("smit", 100, 0)
    assert {last for _, last in names(page)} == {"Smith", "Smithson"}
    scores = {p["last_name"]: score for score, p in page}
    assert scores["Smith"] > scores["Smithson"]  # a longer share of the word
    assert total == len(page)


def test_search_two_words_and_accents(store: ProfileStore) -> None:
    _, page = store.search("zoe garcia", 5, 0)
    assert names(page)[0] == ("Zoë", "García")
    assert page[0][0] == 1.0
    _, page = store.search("KRAKOW", 3, 0)
    assert all(p["city"] == "Kraków" for _, p in page)


@pytest.mark.parametrize(
    "typo", ["Wojciechowsky", "Wojciehowski", "Wjociechowski", "bartholomew wojciechowsk"]
)
def test_search_tolerates_typos(store: ProfileStore, typo: str) -> None:
    total, page = store.search(typo, 3, 0)
    assert total >= 1
    assert page[0][1]["customer_id"] == RARE


def test_search_pages_are_stable_and_bounded(store: ProfileStore) -> None:
    total, first = store.search("mail", 10, 0)
    _, second = store.search("mail", 10, 10)
    _, both = store.search("mail", 20, 0)
    assert total == CANDIDATES  # candidates are bounded...
    # ... unless the page reaches further: every e-mail but the shared one is @mail.test.
    assert store.search("mail", 100, 200)[0] == CUSTOMERS - 3
    assert [p["customer_id"] for _, p in first + second] == [p["customer_id"] for _, p in both]
    # Equal scores come in customer_id order.
    assert [p["customer_id"] for _, p in both] == sorted(p["customer_id"] for _, p in both)
    assert store.search("!!!", 10, 0) == (0, [])
    assert store.search("qqqqqq", 10, 0) == (0, [])


def test_normalization_is_the_same_in_python_and_duckdb() -> None:
    samples = ["Janet.Walker942@Gmail.com", "São Paulo", "ZOË  o'Brien-Smith", "a1b2", "Łódź_x", ""]
    con = duckdb.connect()
    for text in samples:
        assert con.execute("SELECT " + NORMALIZE_SQL.format(x="$1"), [text]).fetchone()[0] == normalize(text)
    assert normalize("Janet.Walker942@Gmail.com") == "janet walker 942 gmail com"
    assert query_words("smith SMITH smit") == ["smith", "smit"]


def test_vocabulary_finds_neighbours_of_a_misspelt_word() -> None:
    vocabulary = Vocabulary(["guzman", "gutman", "garcia", "smith", "ab", "x42"])
    near = vocabulary.similar("gzman")
    assert next(iter(near)) == "guzman" and "garcia" not in near
    assert vocabulary.similar("guzman").keys() == {"gutman"}  # itself excluded
    assert vocabulary.similar("ab") == {}


# --- versions and atomic publish -------------------------------------------------------------------


def versions_kept(path: Path) -> set[int]:
    """The versions whose files exist beside the store's pointer file."""
    return {int(file.stem.rsplit("-v", 1)[1]) for file in path.parent.glob(f"{path.stem}-v*{path.suffix}")}


def test_readers_only_see_complete_versions(lake: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    import c360.serve.store as serve_store

    path = store_path(lake).with_name("atomic.db")
    publish(lake, path=path)
    # Small write transactions: a new version is filled by many commits, none of which may show.
    monkeypatch.setattr(serve_store, "BATCH_ROWS", 7)
    reader = ProfileStore(path)
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
            if reader.search("wojciechowski", 1, 0)[0] != 1:
                problems.append(f"version {info['version']}: search is incomplete")

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        results = [publish(lake, path=path) for _ in range(3)]
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not problems, problems[:5]
    assert [r.version for r in results] == [2, 3, 4]
    assert len(seen) >= 2
    assert versions_kept(path) == {3, 4}  # the current and the previous


def test_a_killed_publish_leaves_readers_on_the_old_version(lake: Project) -> None:
    path = store_path(lake).with_name("killed.db")
    publish(lake, path=path)
    # What a publish killed half-way leaves: the next version's scratch file, partly written.
    scratch = version_path(path, 2).with_name(version_path(path, 2).name + ".tmp")
    with sqlite3.connect(scratch) as con:
        con.execute("CREATE TABLE profiles (customer_id INTEGER PRIMARY KEY, data TEXT)")
        con.execute("INSERT INTO profiles VALUES (1, '{}')")
    con.close()
    reader = ProfileStore(path)
    assert (reader.info()["version"], reader.info()["customers"]) == (1, CUSTOMERS - 1)
    result = publish(lake, path=path)
    assert (result.version, result.customers) == (2, CUSTOMERS - 1)
    assert json.loads(reader.get_json(1) or "{}") == expected_document(1)
    assert not scratch.exists() and versions_kept(path) == {1, 2}


def test_a_reader_keeps_its_version_file_while_it_is_dropped(lake: Project) -> None:
    """A reader that read the pointer just before two more publishes still reads its version."""
    path = store_path(lake).with_name("dropped.db")
    publish(lake, path=path)
    reader = ProfileStore(path)
    with reader.read() as (con, version):
        publish(lake, path=path)
        publish(lake, path=path)
        assert version == 1 and 1 not in versions_kept(path)
        assert con.execute("SELECT count(*) FROM profiles").fetchone()[0] == CUSTOMERS - 1
    assert reader.info()["version"] == 3


def test_one_publish_at_a_time(lake: Project) -> None:
    import fcntl

    from c360.serve.store import StoreError

    path = store_path(lake).with_name("locked.db")
    publish(lake, path=path)
    with open(path.with_name("locked.db.publish.lock"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # what a running publish holds
        with pytest.raises(StoreError, match="another publish"):
            publish(lake, path=path)
    assert ProfileStore(path).info()["version"] == 1 and versions_kept(path) == {1}


def test_publish_reports_its_progress(lake: Project) -> None:
    told: dict[str, int] = {}
    result = publish(
        lake,
        path=store_path(lake).with_name("progress.db"),
        progress=lambda part, rows: told.update({part: told.get(part, 0) + rows}),
    )
    assert told["profiles"] == told["search"] == result.customers == CUSTOMERS - 1
    assert told["identifiers"] == result.identifiers == 4 * (CUSTOMERS - 1)  # client_id, email, phone, record
    assert told["vocab"] > len(FIRST) + len(LAST)


def test_open_store_is_sqlite_by_default(lake: Project) -> None:
    store = open_store(lake)
    assert isinstance(store, ProfileStore) and store.path == store_path(lake)


def test_the_api_serves_the_store(store: ProfileStore, lake: Project) -> None:
    """The API (serve/app.py) over this store: profile, lookup and search answer from it."""
    from fastapi.testclient import TestClient

    from c360.serve.app import create_app
    from c360.serve.auth import create_key

    headers = {"Authorization": f"Bearer {create_key(lake, 'admin')}"}
    with TestClient(create_app(lake)) as api:
        assert api.get(f"/v1/customers/{RARE}", headers=headers).json() == expected_document(RARE)
        found = api.get("/v1/customers", params={"email": SHARED_EMAIL}, headers=headers).json()
        assert [row["customer_id"] for row in found["customers"]] == [10, 11]
        body = api.get("/v1/search", params={"q": "Wojciehowski"}, headers=headers).json()
        assert body["results"][0]["customer_id"] == RARE
        assert api.get("/health").json()["customers"] == CUSTOMERS - 1
