"""The REST API connector against the simulated CRM over real HTTP on 127.0.0.1.

Each failure mode is forced with chaos rate 1 and a bound on consecutive failures, so the tests
are exact (this request fails N times, then succeeds) rather than probabilistic.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from c360.config import RestApiSource
from c360.errors import SourceError
from c360.simulate.crm_server import ChaosSettings, CrmApiServer
from c360.sources.base import RowBatch
from c360.sources.rest_api import (
    RestApiConnector,
    _display_url,
    _latest,
    _retry_after_seconds,
    records_to_table,
)

START = datetime(2024, 5, 23, 6, 40, 13, 494626, tzinfo=UTC)
RECORDS = 230
NO_CHAOS = {"rate_limit_rate": 0, "server_error_rate": 0, "slow_rate": 0, "malformed_rate": 0}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_records(count: int, first_id: int = 5000, start: datetime = START) -> list[dict[str, Any]]:
    """CRM-shaped records whose optional fields are null on the early pages and set on later ones."""
    return [
        {
            "client_id": first_id + i,
            "updated_at": iso(start + timedelta(seconds=i)),
            "birth_date": "1975-10-24",
            "age": 20 + i % 60,
            "email": f"c{i}@example.com" if i >= 120 else None,
            "address": None if i < 60 else {"city": "Lyon", **({"zip": i} if i % 2 else {})},
            "tags": ["gold"] if i % 3 == 0 else [],
        }
        for i in range(count)
    ]


@pytest.fixture
def records_file(tmp_path: Path) -> Path:
    path = tmp_path / "crm" / "clients.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(r) + "\n" for r in make_records(RECORDS)), encoding="utf-8")
    return path


def serve(path: Path, **chaos: Any) -> CrmApiServer:
    settings = ChaosSettings(**{**NO_CHAOS, **chaos}) if chaos else None
    return CrmApiServer(path, chaos=settings)


def connector(url: str, **settings: Any) -> RestApiConnector:
    defaults: dict[str, Any] = {"page_size": 50, "backoff_seconds": 0.01, "timeout_seconds": 5}
    return RestApiConnector("crm", RestApiSource(kind="rest_api", url=url, **{**defaults, **settings}))


def extract(source: RestApiConnector, state: dict[str, Any] | None = None) -> list[RowBatch]:
    return list(source.extract(state or {}))


def test_full_extraction_equals_the_file(records_file: Path) -> None:
    with serve(records_file) as server:
        batches = extract(connector(server.url))
        assert server.stats == {"ok": 5}

    assert len(batches) == 1
    table = batches[0].data
    assert isinstance(table, pa.Table)
    expected = make_records(RECORDS)
    assert table.num_rows == RECORDS
    assert table.column("client_id").to_pylist() == [r["client_id"] for r in expected]
    assert table.to_pylist()[150] == {**expected[150], "address": {"city": "Lyon", "zip": None}}
    assert table.schema == pa.schema(
        [
            ("client_id", pa.int64()),
            ("updated_at", pa.string()),
            ("birth_date", pa.string()),
            ("age", pa.int64()),
            ("email", pa.string()),
            ("address", pa.struct([("city", pa.string()), ("zip", pa.int64())])),
            ("tags", pa.list_(pa.string())),
        ]
    )
    assert batches[0].state == {"cursor": expected[-1]["updated_at"]}
    assert batches[0].description == f"GET {server.url} (full extraction): 5 pages, 230 records"


def test_incremental_extraction_gets_exactly_the_new_records(records_file: Path) -> None:
    with serve(records_file) as server:
        source = connector(server.url)
        (first,) = extract(source)
        assert extract(source, first.state) == []

        later = START + timedelta(days=1)
        update = {**make_records(1)[0], "updated_at": iso(later), "email": "new@example.com"}
        new = make_records(2, first_id=9000, start=later + timedelta(seconds=1))
        server.add_records([update, *new])
        (second,) = extract(source, first.state)

    assert second.data.column("client_id").to_pylist() == [5000, 9000, 9001]
    assert second.data.column("email").to_pylist() == ["new@example.com", None, None]
    assert second.state == {"cursor": new[-1]["updated_at"]}
    assert f"updated_since={first.state['cursor']}: 1 page, 3 records" in second.description


def test_retry_after_is_honoured(records_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    with serve(records_file, rate_limit_rate=1, retry_after_seconds=1, max_consecutive_failures=1) as server:
        began = time.monotonic()
        (batch,) = extract(connector(server.url, page_size=1000))
        waited = time.monotonic() - began
        assert server.stats == {"rate_limited": 1, "ok": 1}

    assert waited >= 1.0
    assert batch.data.num_rows == RECORDS
    (warning,) = [r for r in caplog.records if r.name == "c360.sources.rest_api" and r.levelname == "WARNING"]
    assert "HTTP 429 Too Many Requests; retry 1 of 5 in 1.00 s" in warning.getMessage()


def test_server_errors_are_retried_then_succeed(records_file: Path) -> None:
    with serve(records_file, server_error_rate=1, max_consecutive_failures=2) as server:
        (batch,) = extract(connector(server.url, max_retries=2))
        assert server.stats == {"server_error": 10, "ok": 5}
    assert batch.data.num_rows == RECORDS


def test_slow_page_times_out_and_is_retried(records_file: Path) -> None:
    with serve(records_file, slow_rate=1, slow_seconds=3, max_consecutive_failures=1) as server:
        began = time.monotonic()
        (batch,) = extract(connector(server.url, page_size=1000, timeout_seconds=0.2))
        took = time.monotonic() - began
        assert server.stats["slow"] == 1
    assert took < 3  # the client gave up on the slow answer instead of waiting for it
    assert batch.data.num_rows == RECORDS


def test_truncated_page_is_retried_then_succeeds(records_file: Path) -> None:
    with serve(records_file, malformed_rate=1, max_consecutive_failures=1) as server:
        (batch,) = extract(connector(server.url))
        assert server.stats == {"malformed": 5, "ok": 5}
    assert batch.data.num_rows == RECORDS


def collect(source: RestApiConnector) -> tuple[list[RowBatch], SourceError]:
    """What the framework would see: the batches yielded before the error, and the error."""
    yielded: list[RowBatch] = []
    with pytest.raises(SourceError) as caught:
        for batch in source.extract({}):
            yielded.append(batch)
    return yielded, caught.value


def test_a_source_failing_mid_extraction_yields_nothing(records_file: Path) -> None:
    chaos = {"server_error_rate": 1, "max_consecutive_failures": 1000, "healthy_requests": 1}
    with serve(records_file, **chaos) as server:
        yielded, error = collect(connector(server.url, max_retries=2))
        assert server.stats == {"ok": 1, "server_error": 3}  # page 1 served, page 2 tried 3 times

    assert yielded == []
    message = str(error)
    assert error.source == "crm"
    assert message.startswith(f"source 'crm': GET {server.url}?limit=50&page_token=")
    assert "failed after 3 attempts: HTTP 500 Internal Server Error" in message
    assert error.hint is not None and "max_retries" in error.hint


def test_a_page_malformed_every_time_is_a_source_error(records_file: Path) -> None:
    with serve(records_file, malformed_rate=1, max_consecutive_failures=1000) as server:
        yielded, error = collect(connector(server.url, max_retries=1))
    assert yielded == []
    assert (
        f"source 'crm': GET {server.url}?limit=50 failed after 2 attempts: the response is not JSON"
        in str(error)
    )


def test_unreachable_server_is_a_source_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on: bound, then released
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/clients"
    yielded, error = collect(connector(url, max_retries=1))
    assert yielded == []
    assert f"source 'crm': GET {url}?limit=50 failed after 2 attempts: connection failed" in str(error)
    assert error.hint is not None and "url under [sources.crm]" in error.hint


def test_not_found_fails_at_once(records_file: Path) -> None:
    with serve(records_file) as server:
        url = server.url.replace("/clients", "/customers")
        _, error = collect(connector(url))
        assert server.stats == {"not_found": 1}
    assert f"GET {url}?limit=50 failed after 1 attempt: HTTP 404 Not Found" in str(error)


def test_a_very_long_retry_after_is_not_waited_for(records_file: Path) -> None:
    with serve(records_file, rate_limit_rate=1, retry_after_seconds=3600) as server:
        began = time.monotonic()
        _, error = collect(connector(server.url))
        assert time.monotonic() - began < 2
    assert "HTTP 429 Too Many Requests, Retry-After 3600 s" in str(error)
    assert error.hint is not None and "run again later" in error.hint


def test_wrong_records_key_names_the_keys_the_page_has(records_file: Path) -> None:
    with serve(records_file) as server:
        _, error = collect(connector(server.url, records_key="items", max_retries=0))
    assert "the response's 'items' is missing, not a list of records (its keys: data, next)" in str(error)
    assert error.hint is not None and "records_key" in error.hint


def test_records_without_the_cursor_field_are_refused(records_file: Path) -> None:
    with serve(records_file) as server:
        _, error = collect(connector(server.url, cursor_field="email"))
    assert "120 of 230 records have no 'email' (the cursor field)" in str(error)


def test_columns_are_the_union_and_disagreeing_values_land_as_text(caplog: pytest.LogCaptureFixture) -> None:
    table = records_to_table(
        [{"id": 1, "code": 7, "meta": {}}, {"id": 2, "code": "7b", "extra": None, "meta": {}}], "crm"
    )
    assert table.column_names == ["id", "code", "meta", "extra"]
    assert table.column("id").type == pa.int64()
    assert table.column("code").to_pylist() == ["7", "7b"]
    assert table.column("meta").to_pylist() == ["{}", "{}"]  # struct<> cannot be written to Parquet
    assert "field 'code' has values of types int, str" in caplog.text
    with pytest.raises(SourceError, match="reserves the prefix _c360_"):
        records_to_table([{"_c360_record": 1}], "crm")


def test_helpers_read_retry_after_compare_instants_and_hide_secrets() -> None:
    assert _retry_after_seconds("7") == 7.0
    in_ten = datetime.now(UTC) + timedelta(seconds=10)
    assert 8 < (_retry_after_seconds(format_datetime(in_ten, usegmt=True)) or 0) <= 10
    assert _retry_after_seconds("soon") is None
    assert _latest(["2024-01-01T00:00:00+01:00", "2023-12-31T23:30:00Z"]) == "2023-12-31T23:30:00Z"
    assert _latest([3, 12]) == 12
    assert (
        _display_url("https://me:pw@api.example.com/v1?api_key=s3cret&page_token=abc")
        == "https://api.example.com/v1?api_key=***&page_token=abc"
    )


@pytest.fixture(autouse=True)
def _capture_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger="c360.sources.rest_api")
    yield
