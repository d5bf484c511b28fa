"""Live per-customer counters: a known event sequence through ``LiveCounters.on_events`` and the API."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from c360.config import Project, load_project
from c360.project import init_project
from c360.serve.app import create_app
from c360.serve.auth import create_key
from c360.serve.live import LiveCounters
from c360.serve.store import connect_store, init_store, store_path, version_path
from c360.stream.events import COLUMNS

# user_id → customer ids of the identifier map the tests publish; user 1003 is not mapped
USER_MAP = {"1001": (1,), "1002": (2, 3)}
CUSTOMERS = (1, 2, 3)


def served_project(directory: Path) -> Project:
    """A project whose serving store holds one published version with a known identifier map.

    The map is written directly (as a publish writes it) rather than built from a demo, so the
    tests know exactly which user belongs to which customer.
    """
    init_project(directory)
    project = load_project(directory)
    path = store_path(project)
    init_store(path)
    version = sqlite3.connect(version_path(path, 1))
    version.executescript(
        """
        CREATE TABLE profiles (customer_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
        CREATE TABLE identifiers (kind TEXT NOT NULL, value TEXT NOT NULL, customer_id INTEGER NOT NULL,
                                  PRIMARY KEY (kind, value, customer_id)) WITHOUT ROWID;
        CREATE INDEX identifiers_by_customer ON identifiers (customer_id);
        CREATE VIRTUAL TABLE search USING fts5(name, email, city, detail=none);
        CREATE TABLE vocab (word TEXT PRIMARY KEY) WITHOUT ROWID;
        """
    )
    version.executemany(
        "INSERT INTO profiles VALUES (?, ?)", [(c, json.dumps({"customer_id": c})) for c in CUSTOMERS]
    )
    version.executemany(
        "INSERT INTO identifiers VALUES ('user_id', ?, ?)",
        [(user, customer) for user, customers in USER_MAP.items() for customer in customers],
    )
    version.commit()
    version.close()
    con = connect_store(path)
    con.execute(
        "INSERT INTO versions VALUES (1, '2024-06-01T00:00:00+00:00', NULL, ?, ?, NULL)",
        (len(CUSTOMERS), sum(len(c) for c in USER_MAP.values())),
    )
    con.execute("INSERT INTO serving_meta VALUES ('current_version', '1')")
    con.commit()
    con.close()
    return project


def make_app(project: Project) -> FastAPI:
    return create_app(project, run_stream=False)


def event(
    time: str, kind: str, user: str, session: str, product: str = "1", price: str = ""
) -> dict[str, str]:
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        event_time=f"2024-05-20 {time} UTC" if len(time) == 8 else f"{time} UTC",
        event_type=kind,
        user_id=user,
        user_session=session,
        product_id=product,
        price=price,
        ip="10.0.0.1",
        user_agent="Mozilla/5.0",
    )
    return row


def table(rows: list[dict[str, str]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in COLUMNS]))


FIRST_BATCH = [
    event("2024-05-19 23:59:00", "view", "1001", "s0"),  # yesterday
    event("10:00:00", "view", "1001", "s1", "p1", "10.00"),
    event("10:00:05", "cart", "1001", "s1", "p1", "10.00"),
    event("10:00:10", "cart", "1001", "s1", "p2", "5.50"),
    event("10:00:12", "cart", "1001", "s1", "p1", "10.00"),  # a second unit of p1
    event("10:00:20", "remove_from_cart", "1001", "s1", "p2", "5.50"),
    event("10:00:30", "purchase", "1001", "s1", "p1", "10.00"),  # one unit of p1 leaves the cart
    event("10:01:00", "cart", "1002", "t1", "p3", "3.00"),  # one user, two customers
    event("10:01:00", "view", "1003", "u1"),  # nobody's
    event("not a time", "view", "1001", "s1"),
]
SECOND_BATCH = [
    event("10:05:00", "view", "1001", "s2"),  # a new session
    event("10:00:25", "view", "1001", "s1"),  # arrives late: counts today, not for the current session
]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return served_project(tmp_path / "project")


@pytest.fixture
def client(project: Project) -> Iterator[TestClient]:
    with TestClient(make_app(project)) as client:
        yield client


def live(client: TestClient, key: str, customer: int) -> Any:
    return client.get(f"/v1/customers/{customer}/live", headers={"Authorization": f"Bearer {key}"})


def test_counters_after_views_carts_removal_purchase_and_a_late_event(project: Project) -> None:
    counters = LiveCounters(store_path(project))
    first = counters.on_events(table(FIRST_BATCH))
    assert (first.events, first.unreadable, first.unmapped) == (10, 1, 1)
    assert first.applied == 7 + 2  # customer 1's seven events, and user 1002's event for two customers
    assert first.customers == 3
    counters.on_events(table(SECOND_BATCH))
    counters.close()
    with TestClient(make_app(project)) as client:
        key = create_key(project, "app")
        one = live(client, key, 1).json()
        assert one["last_seen"] == "2024-05-20T10:05:00+00:00"
        assert one["today"] == "2024-05-20"
        assert one["events_today"] == 8  # all but yesterday's view
        assert one["events_total"] == 9
        assert one["current_session"] == {
            "id": "s2", "started": "2024-05-20T10:05:00+00:00", "events": 1, "active": True,
        }  # fmt: skip
        assert one["cart_value"] == 10.0 and one["cart_items"] == 1  # p1 ×2 − 1 bought; p2 removed
        for shared in (2, 3):
            body = live(client, key, shared).json()
            assert (body["cart_value"], body["events_today"], body["current_session"]["id"]) == (3.0, 1, "t1")


def test_events_today_and_session_follow_the_stream_clock(project: Project) -> None:
    counters = LiveCounters(store_path(project))
    counters.on_events(table(FIRST_BATCH))
    counters.on_events(table([event("2024-05-21 09:00:00", "view", "1002", "t9")]))  # the next day
    counters.close()
    with TestClient(make_app(project)) as client:
        key = create_key(project, "app")
        one = live(client, key, 1).json()
        assert one["today"] == "2024-05-21"
        assert one["events_today"] == 0  # customer 1 was last seen yesterday
        assert one["current_session"]["id"] == "s1" and one["current_session"]["active"] is False
        assert one["cart_value"] == 10.0  # the cart stays
        two = live(client, key, 2).json()
        assert two["events_today"] == 1 and two["current_session"]["events"] == 1


def test_counters_survive_a_restart_of_the_updater(project: Project) -> None:
    LiveCounters(store_path(project)).on_events(table(FIRST_BATCH[:4]))
    again = LiveCounters(store_path(project))
    again.on_events(table(FIRST_BATCH[4:7]))
    again.close()
    with TestClient(make_app(project)) as client:
        one = live(client, create_key(project, "app"), 1).json()
        assert one["cart_value"] == 10.0 and one["events_total"] == 7


def test_live_of_a_customer_without_events_unknown_customer_and_no_key(
    client: TestClient, project: Project
) -> None:
    key = create_key(project, "analyst")
    quiet = live(client, key, 3)
    assert quiet.status_code == 200
    assert quiet.json()["events_today"] == 0 and quiet.json()["last_seen"] is None
    assert live(client, key, 999).status_code == 404
    assert client.get("/v1/customers/1/live").status_code == 401


def test_before_anything_is_published_every_user_is_unmapped(tmp_path: Path) -> None:
    counters = LiveCounters(tmp_path / "serving.db")
    update = counters.on_events(table(FIRST_BATCH))
    counters.close()
    assert (update.unmapped, update.unreadable, update.customers) == (9, 1, 0)
