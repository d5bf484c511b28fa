"""``c360 serve`` with the in-process transport: POST /v1/events → detectors → GET /v1/alerts and the
live counters, and the events landed in raw.clickstream, in one process with nothing else started."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from c360.config import Project, load_project
from c360.lake.catalog import open_lake_catalog
from c360.lake.tables import load_table
from c360.serve.app import create_app
from c360.serve.auth import create_key
from c360.stream.transports import EVENT_ID
from tests.servers import uvicorn_thread
from tests.test_live_counters import event, served_project

SHOPPER = [  # user 1001 is customer 1: a view, two carts, one taken out again
    event("10:00:00", "view", "1001", "s1", "p1", "10.00"),
    event("10:00:05", "cart", "1001", "s1", "p1", "10.00"),
    event("10:00:10", "cart", "1001", "s1", "p2", "5.50"),
    event("10:00:12", "remove_from_cart", "1001", "s1", "p2", "5.50"),
]
# User 2002 (no customer) acts 7 times in 10 s from its own address: above the reference rule's 5.
BURST = [
    {**event(f"10:00:{second}", kind, "2002", session), "ip": "10.0.0.2"}
    for second, kind, session in zip(
        range(20, 27), ["view", "cart"] * 3 + ["view"], ["b1", "b2"] * 3 + ["b1"], strict=True
    )
]
BAD = {**SHOPPER[0], "event_type": "hover"}  # rejected by the collector, never published


def stream_project(directory: Path, extra: str = "") -> Project:
    """A served project whose in-process queue is its own (tests share the process)."""
    served_project(directory)
    with (directory / "c360.toml").open("a", encoding="utf-8") as config:
        config.write(f'\n[stream.transport]\nstream = "serve-{uuid.uuid4().hex}"\n{extra}')
    return load_project(directory)


@contextmanager
def running_server(project: Project) -> Iterator[str]:
    """The app under uvicorn on a thread, as ``c360 serve`` runs it; stopped (lifespan shutdown) on exit."""
    with uvicorn_thread(create_app(project), start_seconds=10) as base:
        yield base


def wait_for(fetch: Callable[[], Any], done: Callable[[Any], bool], seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def landed(project: Project) -> list[str]:
    raw = load_table(open_lake_catalog(project.lake_dir), "raw.clickstream")
    assert raw is not None, "nothing landed in raw.clickstream"
    return sorted(raw.scan(selected_fields=(EVENT_ID,)).to_arrow()[EVENT_ID].to_pylist())


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return stream_project(tmp_path / "project")


def test_events_posted_become_alerts_live_counters_and_raw_rows_in_one_process(project: Project) -> None:
    key = create_key(project, "app")
    headers = {"Authorization": f"Bearer {key}"}
    with running_server(project) as url, httpx.Client(base_url=url, headers=headers, timeout=10) as http:
        first = http.post("/v1/events", json=[*SHOPPER, BAD]).json()
        assert (first["accepted"], first["rejected"]) == (4, 1)
        assert http.post("/v1/events", json=BURST).json()["accepted"] == 7

        alerts = wait_for(lambda: http.get("/v1/alerts").json(), lambda body: body["count"] > 0)
        fields = ("detector", "key_type", "key_value", "severity", "count")
        assert [tuple(a[f] for f in fields) for a in alerts["alerts"]] == [
            ("reference", "user_id", "2002", "medium", 6)
        ]  # raised by the sixth event, the first above 5; the seventh is within its cooldown
        alert = alerts["alerts"][0]
        assert alert["window_start"] == "2024-05-20T10:00:20.000000+00:00"
        assert alert["detected_at_event_time"] == "2024-05-20T10:00:25.000000+00:00"

        live = wait_for(
            lambda: http.get("/v1/customers/1/live").json(), lambda body: body["events_total"] >= 4
        )
        assert (live["events_today"], live["events_total"], live["today"]) == (4, 4, "2024-05-20")
        assert (live["cart_value"], live["cart_items"]) == (10.0, 1)  # p2 was taken out again
        assert live["last_seen"] == "2024-05-20T10:00:12+00:00"
        assert live["current_session"]["id"] == "s1" and live["current_session"]["events"] == 4
        assert live["stream_clock"] == "2024-05-20T10:00:26+00:00"  # the burst's last event
        assert http.get("/v1/events/stats").json()["accepted"] == 11
    ids = landed(project)  # landed on shutdown: the raw sink's 10 s had not passed
    assert len(ids) == 11 and len(set(ids)) == 11


def test_shutdown_handles_and_lands_every_accepted_event_first(project: Project) -> None:
    """The in-process queue dies with the process: what the collector accepted is handled before."""
    key = create_key(project, "app")
    n = 3_000
    times = [f"2024-05-20 11:{i // 60 % 60:02d}:{i % 60:02d}" for i in range(n)]
    shopping = [event(time, "view", "1001", "s9") for time in times]
    with TestClient(create_app(project)) as client:
        for lo in range(0, n, 1_000):
            answer = client.post("/v1/events", json=shopping[lo : lo + 1_000], headers={"X-API-Key": key})
            assert answer.json()["accepted"] == 1_000
        stream = client.app.state.stream
    assert stream.behind() == 0 and stream.error is None
    assert stream.wired.runner.stats.processed == n
    assert stream.wired.live.totals.applied == n
    assert len(landed(project)) == n


def test_no_runner_for_a_broker_or_a_transport_given_from_outside(tmp_path: Path) -> None:
    nats = stream_project(tmp_path / "nats", '\nkind = "nats"\n')  # consumed by `c360 stream run`
    with TestClient(create_app(nats)):
        pass
    assert not (nats.lake_dir / "catalog.db").exists()  # no raw sink was opened
    memory = stream_project(tmp_path / "memory")
    app = create_app(memory)
    app.state.event_transport = given = _ClosedTransport()
    with TestClient(app):
        assert not hasattr(app.state, "stream")
    assert given.closed
    with TestClient(create_app(memory, run_stream=False)) as client:
        assert not hasattr(client.app.state, "stream")


class _ClosedTransport:
    """Stands for a transport someone else opened: the app only closes it on shutdown."""

    closed = False

    def close(self) -> None:
        self.closed = True
