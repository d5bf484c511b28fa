"""Alerts in the serving store: the sink's deduplication and cooldown, and ``GET /v1/alerts`` filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from c360.config import Project
from c360.serve.alert_store import ServingAlertSink
from c360.serve.auth import create_key
from c360.serve.store import store_path
from c360.stream.processor import Alert
from c360.stream.sinks import FanOut, Sink
from tests.test_live_counters import make_app, served_project

T0 = datetime(2024, 5, 20, 10, 0, tzinfo=UTC)


def alert(detector: str, key_type: str, key: str, minutes: float, severity: str = "medium") -> Alert:
    at = T0 + timedelta(minutes=minutes)
    return Alert(detector, key_type, key, at, at + timedelta(seconds=30), at, at, severity, 26)


ALERTS = [
    alert("ip_flood", "ip", "1.2.3.4", 0, "high"),
    alert("reference", "user_id", "42", 1),
    alert("reference", "user_id", "42", 2, "high"),  # escalation inside the cooldown: kept
    alert("reference", "user_id", "42", 3),  # same rule and key, within 10 min, not more severe: skipped
    alert("bot_agent", "ip", "5.6.7.8", 5),
    alert("reference", "user_id", "42", 20),  # after the cooldown: kept
]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return served_project(tmp_path / "project")


@pytest.fixture
def stored(project: Project) -> ServingAlertSink:
    sink = ServingAlertSink(store_path(project), cooldown_s=600)
    fan = FanOut([sink])  # as the runner uses it, among other sinks
    fan.send(ALERTS[:3])
    fan.send(ALERTS[3:])
    fan.send(ALERTS)  # the same alerts again (a redelivered batch): nothing new
    fan.close()
    return sink


def test_sink_follows_the_protocol_and_dedups_by_id_and_cooldown(stored: ServingAlertSink) -> None:
    assert isinstance(stored, Sink)
    assert stored.written == 5
    assert stored.skipped == 1 + len(ALERTS)


def test_get_alerts_with_filters(project: Project, stored: ServingAlertSink) -> None:
    with TestClient(make_app(project)) as client:
        headers = {"Authorization": f"Bearer {create_key(project, 'app')}"}

        def get(**params: object) -> list[tuple[str, str, str]]:
            response = client.get("/v1/alerts", params=params, headers=headers)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["count"] == len(body["alerts"])
            return [
                (a["detector"], a["key_value"], a["detected_at_event_time"][11:16]) for a in body["alerts"]
            ]

        assert get() == [
            ("reference", "42", "10:20"),
            ("bot_agent", "5.6.7.8", "10:05"),
            ("reference", "42", "10:02"),
            ("reference", "42", "10:01"),
            ("ip_flood", "1.2.3.4", "10:00"),
        ]
        assert get(detector="reference", key="42") == [
            ("reference", "42", "10:20"), ("reference", "42", "10:02"), ("reference", "42", "10:01"),
        ]  # fmt: skip
        assert get(severity="high") == [("reference", "42", "10:02"), ("ip_flood", "1.2.3.4", "10:00")]
        assert get(since="2024-05-20T10:02:00Z") == [
            ("reference", "42", "10:20"), ("bot_agent", "5.6.7.8", "10:05"), ("reference", "42", "10:02"),
        ]  # fmt: skip
        assert get(since="2024-05-20T10:02:00", key_type="ip") == [("bot_agent", "5.6.7.8", "10:05")]
        assert get(limit=2) == [("reference", "42", "10:20"), ("bot_agent", "5.6.7.8", "10:05")]
        first = client.get("/v1/alerts", params={"limit": 1}, headers=headers).json()["alerts"][0]
        assert first["severity"] == "medium" and first["count"] == 26 and first["key_type"] == "user_id"
        assert first["window_end"] == "2024-05-20T10:20:30.000000+00:00"
        assert client.get("/v1/alerts", params={"severity": "urgent"}, headers=headers).status_code == 422
        assert client.get("/v1/alerts", params={"limit": 0}, headers=headers).status_code == 422


def test_ip_keys_are_masked_for_roles_without_pii(project: Project, stored: ServingAlertSink) -> None:
    with TestClient(make_app(project)) as client:
        for role, shown in (("analyst", "1.2.3.*"), ("app", "1.2.3.4")):
            headers = {"X-API-Key": create_key(project, role)}
            body = client.get("/v1/alerts", params={"detector": "ip_flood"}, headers=headers).json()
            assert [a["key_value"] for a in body["alerts"]] == [shown]
        user = client.get("/v1/alerts", params={"key": "42", "limit": 1}, headers=headers).json()
        assert user["alerts"][0]["key_value"] == "42"  # only addresses are masked


def test_alerts_need_a_key(project: Project) -> None:
    with TestClient(make_app(project)) as client:
        assert client.get("/v1/alerts").status_code == 401
        assert client.get("/v1/alerts", headers={"X-API-Key": "c360_x_y"}).status_code == 401


def test_empty_store_answers_no_alerts(project: Project) -> None:
    with TestClient(make_app(project)) as client:
        response = client.get("/v1/alerts", headers={"X-API-Key": create_key(project, "app")})
        assert response.status_code == 200 and response.json() == {"count": 0, "limit": 100, "alerts": []}
