"""The CRM API lands in raw through `c360 ingest`, its cursor kept in the lake across runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from c360.config import load_project
from c360.errors import SourceError
from c360.lake.catalog import open_catalog
from c360.lake.query import run_query
from c360.raw.ingest import IngestError, ingest
from c360.simulate.crm_server import ChaosSettings, CrmApiServer
from tests.projects import write_project


def client(i: int, minute: int) -> dict:
    return {
        "client_id": 5000 + i,
        "first_name": f"Name{i}",
        "birth_date": "1980-01-02",
        "address": {"city": "Lyon", "zip": f"{69000 + i}"},
        "updated_at": f"2024-05-23T06:{minute:02}:00.{i:06}Z",
    }


def rest_project(directory: Path, url: str) -> Path:
    config = f"""
[sources.crm]
kind = "rest_api"
url = "{url}"
page_size = 7
backoff_seconds = 0.01
timeout_seconds = 0.5
max_retries = 6
"""
    return write_project(directory, config)


def rows(project, sql: str) -> list[dict]:
    return run_query(open_catalog(project), sql).to_pylist()


def test_extraction_through_chaos_then_incremental(tmp_path: Path) -> None:
    records = tmp_path / "clients.jsonl"
    records.write_text("".join(json.dumps(client(i, 10)) + "\n" for i in range(60)))
    chaos = ChaosSettings(
        rate_limit_rate=0.1,
        retry_after_seconds=0,
        server_error_rate=0.15,
        slow_rate=0.05,
        slow_seconds=1.0,
        malformed_rate=0.1,
    )
    with CrmApiServer(records, seed=3, chaos=chaos) as server:
        project = load_project(rest_project(tmp_path / "p", server.url))
        first = ingest(project)
        assert first.sources[0].rows == 60
        assert server.stats.get("ok", 0) > 0 and sum(server.stats.values()) > server.stats["ok"]
        landed = rows(project, "SELECT client_id, address.city AS city FROM raw.crm ORDER BY client_id")
        assert [r["client_id"] for r in landed] == list(range(5000, 5060))
        assert {r["city"] for r in landed} == {"Lyon"}

        server.add_records([client(i, 20) for i in range(55, 65)])
        second = ingest(load_project(project.root))
        assert second.sources[0].rows == 10
        new = rows(
            project,
            "SELECT client_id FROM raw.crm WHERE _c360_batch_id = (SELECT max(batch_id) FROM raw.batches)",
        )
        assert sorted(r["client_id"] for r in new) == list(range(5055, 5065))
        state = rows(project, "SELECT state FROM raw.batches ORDER BY received_at")
        assert [json.loads(s["state"])["cursor"] for s in state] == [
            "2024-05-23T06:10:00.000059Z",
            "2024-05-23T06:20:00.000064Z",
        ]
        assert ingest(load_project(project.root)).sources[0].batches == 0


def test_failing_api_records_nothing_as_complete(tmp_path: Path) -> None:
    records = tmp_path / "clients.jsonl"
    records.write_text("".join(json.dumps(client(i, 10)) + "\n" for i in range(30)))
    always_failing_after_page_one = ChaosSettings(
        rate_limit_rate=0,
        server_error_rate=1.0,
        slow_rate=0,
        malformed_rate=0,
        max_consecutive_failures=1000,
        healthy_requests=1,
    )
    with CrmApiServer(records, seed=1, chaos=always_failing_after_page_one) as server:
        project = load_project(rest_project(tmp_path / "p", server.url))
        with pytest.raises(IngestError, match="source 'crm'") as failure:
            ingest(project)
        assert "500" in str(failure.value)
        assert isinstance(failure.value.result.failures["crm"], SourceError)
    assert rows(project, "SELECT count(*) AS n FROM raw.batches") == [{"n": 0}]
    assert not list((project.lake_dir / "raw").glob("crm/*"))


def test_unreachable_api_is_a_clear_error(tmp_path: Path) -> None:
    project = load_project(rest_project(tmp_path / "p", "http://127.0.0.1:9/v1/clients"))
    with pytest.raises(IngestError, match="source 'crm'"):
        ingest(project)
