"""The collector (``POST /v1/events``) and the ``send`` client, with the in-process transport."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from c360.config import Project
from c360.serve.auth import create_key
from c360.stream.client import SendError, send_file
from c360.stream.events import COLUMNS
from c360.stream.settings import TransportSettings
from c360.stream.transports import Transport, open_transport
from tests.servers import uvicorn_thread
from tests.test_live_counters import event, make_app, served_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return served_project(tmp_path_factory.mktemp("collector") / "project")


@pytest.fixture(scope="module")
def keys(project: Project) -> dict[str, str]:
    return {role: create_key(project, role) for role in ("admin", "analyst", "app")}


@pytest.fixture
def transport() -> Iterator[Transport]:
    """A private in-process queue per test, so no test sees another's events."""
    with open_transport(TransportSettings(stream=f"test-{uuid.uuid4().hex}")) as transport:
        yield transport


@pytest.fixture
def client(project: Project, transport: Transport) -> Iterator[TestClient]:
    app = make_app(project)
    app.state.event_transport = transport
    with TestClient(app) as client:
        yield client


def auth(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


def received(transport: Transport) -> list[dict[str, Any]]:
    delivery = transport.consume(100_000, timeout_s=0.5)
    transport.ack(delivery)
    return delivery.table.to_pylist()


GOOD = event("10:00:00", "view", "1001", "s1", "p1", "10.00")
MIXED: list[Any] = [
    GOOD,
    {**GOOD, "event_time": "yesterday"},
    {**GOOD, "event_type": "hover"},
    {**GOOD, "price": "-3"},
    {**GOOD, "user_id": " "},
    "not an object",
    {**GOOD, "ip": "300.1.2.3"},
    {**GOOD, "brand": {"nested": True}},
    {
        **GOOD,
        "event_id": "client-7",
        "user_id": 1002,
        "price": 12.5,
        "event_type": "cart",
    },  # numbers are fine
]
EXPECTED_REJECTS = [
    {"index": 1, "field": "event_time", "reason": "unparseable time"},
    {"index": 2, "field": "event_type", "reason": "unknown event_type"},
    {"index": 3, "field": "price", "reason": "negative price"},
    {"index": 4, "field": "user_id", "reason": "missing user_id"},
    {"index": 5, "field": None, "reason": "not a JSON object"},
    {"index": 6, "field": "ip", "reason": "not an IP address"},
    {"index": 7, "field": "brand", "reason": "must be text or a number"},
]


def test_mixed_json_array_rejects_bad_events_with_reasons_and_publishes_the_rest(
    client: TestClient, keys: dict, transport: Transport
) -> None:
    response = client.post("/v1/events", json=MIXED, headers=auth(keys["app"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["received"], body["accepted"], body["rejected"]) == (9, 2, 7)
    assert body["rejects"] == EXPECTED_REJECTS
    assert body["reasons"]["negative price"] == 1 and sum(body["reasons"].values()) == 7
    events = received(transport)
    assert [e["user_id"] for e in events] == ["1001", "1002"]
    assert events[1]["event_id"] == "client-7" and events[1]["price"] == "12.5"
    assert events[0]["event_id"]  # assigned when the client gave none
    assert {k: events[0][k] for k in COLUMNS} == GOOD


def test_ndjson_with_a_broken_line(client: TestClient, keys: dict, transport: Transport) -> None:
    lines = [json.dumps(GOOD), "{broken", "", json.dumps({**GOOD, "user_id": "1003"})]
    response = client.post(
        "/v1/events",
        content="\n".join(lines) + "\n",
        headers=auth(keys["admin"], **{"Content-Type": "application/x-ndjson"}),
    )
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert body["rejects"][0]["index"] == 1 and body["rejects"][0]["reason"].startswith("invalid JSON")
    assert [e["user_id"] for e in received(transport)] == ["1001", "1003"]


def test_keys_and_roles(client: TestClient, keys: dict, transport: Transport) -> None:
    assert client.post("/v1/events", json=[GOOD]).status_code == 401
    assert client.post("/v1/events", json=[GOOD], headers=auth("c360_nope_nope")).status_code == 401
    refused = client.post("/v1/events", json=[GOOD], headers=auth(keys["analyst"]))
    assert refused.status_code == 403 and "analyst" in refused.json()["detail"]
    assert received(transport) == []


def test_a_broken_array_is_refused_whole_and_a_single_object_is_one_event(
    client: TestClient, keys: dict
) -> None:
    assert client.post("/v1/events", content="[{broken", headers=auth(keys["app"])).status_code == 400
    single = client.post("/v1/events", json={**GOOD, "event_time": "x"}, headers=auth(keys["app"])).json()
    assert (single["received"], single["rejected"], single["rejects"][0]["field"]) == (1, 1, "event_time")


def test_full_transport_is_503_and_nothing_of_the_request_is_published(project: Project, keys: dict) -> None:
    small = open_transport(TransportSettings(stream=f"test-{uuid.uuid4().hex}", buffer_events=3))
    app = make_app(project)
    app.state.event_transport = small
    with TestClient(app) as client:
        post = [client.post("/v1/events", json=[GOOD] * n, headers=auth(keys["app"])) for n in (3, 2, 2)]
        assert [p.status_code for p in post] == [200, 200, 503]  # queue full, then the publisher's buffer
        assert post[2].headers["retry-after"]
        stats = client.get("/v1/events/stats", headers=auth(keys["app"])).json()
        assert (stats["accepted"], stats["refused_requests"]) == (5, 1)
    assert len(received(small)) == 3
    assert small.flush(timeout_s=5)  # the consumer caught up: the buffered request goes through
    assert len(received(small)) == 2
    small.close()


def test_stats_count_every_reject_by_reason(client: TestClient, keys: dict) -> None:
    client.post("/v1/events", json=MIXED, headers=auth(keys["app"]))
    client.post("/v1/events", json=MIXED[:4], headers=auth(keys["app"]))
    stats = client.get("/v1/events/stats", headers=auth(keys["app"])).json()
    assert (stats["requests"], stats["accepted"], stats["rejected"]) == (2, 3, 10)
    assert stats["reasons"]["unparseable time"] == 2 and stats["reasons"]["not an IP address"] == 1


def csv_file(path: Path, rows: list[dict[str, str]]) -> Path:
    lines = [",".join(COLUMNS)] + [",".join(f'"{row[c]}"' for c in COLUMNS) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_send_client_posts_a_csv_in_batches(
    client: TestClient, keys: dict, transport: Transport, tmp_path: Path
) -> None:
    rows = [event(f"10:00:{s:02d}", "view", "1001", "s1") for s in range(7)]
    rows[4]["event_type"] = "hover"
    path = csv_file(tmp_path / "events.csv", rows)
    result = send_file(path, "http://testserver", keys["app"], batch_events=3, client=client)
    assert (result.events, result.requests, result.accepted, result.rejected) == (7, 3, 6, 1)
    assert result.reasons == {"unknown event_type": 1}
    assert result.sample == [{"index": 1, "field": "event_type", "reason": "unknown event_type", "event": 5}]
    assert [e["event_time"][11:19] for e in received(transport)] == [
        f"10:00:{s:02d}" for s in (0, 1, 2, 3, 5, 6)
    ]


def test_send_client_ndjson_and_retries(keys: dict, tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_text(json.dumps(GOOD) + "\nnot json\n" + json.dumps(GOOD) + "\n", encoding="utf-8")
    answers = iter([503, 200])
    bodies: list[bytes] = []

    def collector(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        bodies.append(request.content)
        if status != 200:
            return httpx.Response(status, json={"detail": "transport full"})
        return httpx.Response(200, json={"accepted": 2, "rejected": 1, "reasons": {"invalid JSON": 1}})

    http = httpx.Client(transport=httpx.MockTransport(collector))
    result = send_file(path, "http://collector", keys["app"], backoff=0, client=http)
    assert (result.retries, result.accepted, result.rejected) == (1, 2, 1)
    assert bodies[0] == bodies[1] and bodies[0].split(b"\n")[1] == b"not json"


def test_send_client_stops_on_a_refusal(keys: dict, tmp_path: Path) -> None:
    path = csv_file(tmp_path / "events.csv", [GOOD])
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(403, json={"detail": "no"})))
    with pytest.raises(SendError, match="HTTP 403: no"):
        send_file(path, "http://collector", keys["app"], backoff=0, client=http)


def test_send_over_http_to_a_running_server(
    project: Project, keys: dict, transport: Transport, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:

    from c360.stream.client import send_with_progress

    app = make_app(project)
    app.state.event_transport = transport
    with uvicorn_thread(app, start_seconds=10) as base:
        rows = [event(f"10:{m:02d}:00", "view", "1001", "s1") for m in range(25)]
        rows[3]["price"] = "-1"
        path = csv_file(tmp_path / "events.csv", rows)
        result = send_with_progress(path, base, keys["app"], batch_events=10, retries=0)
    assert (result.requests, result.accepted, result.rejected) == (3, 24, 1)
    assert len(received(transport)) == 24
    printed = capsys.readouterr().out
    assert "24 accepted, 1 rejected" in printed and "event 4: price: negative price" in printed
