"""Alert storage in the lake and the alert sinks (log, JSON-lines file, webhook against a real local
HTTP server), and a replay that feeds both."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from c360.errors import ConfigError
from c360.lake.catalog import open_lake_catalog
from c360.lake.query import run_query
from c360.stream.alerts import ALERTS_TABLE, AlertStore, alert_id
from c360.stream.processor import Alert
from c360.stream.replay import replay
from c360.stream.sinks import FileSink, LogSink, Sink, WebhookSink, fan_out
from tests.test_stream import COLUMNS, event

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

T0 = datetime(2024, 5, 16, 12, 0, 0, tzinfo=UTC)


def make_alert(i: int, *, severity: str = "medium", detector: str = "reference") -> Alert:
    start = T0 + timedelta(seconds=10 * i)
    return Alert(
        detector=detector,
        key_type="user_id",
        key_value=str(100 + i),
        window_start=start,
        window_end=start + timedelta(seconds=10),
        first_event_time=start + timedelta(seconds=1),
        detected_at_event_time=start + timedelta(seconds=5),
        severity=severity,
        count=6 + i,
    )


ALERTS = [make_alert(i) for i in range(5)]


# --- alert ids and the lake store


def test_alert_ids_are_stable_and_tell_alerts_apart() -> None:
    a = ALERTS[0]
    assert alert_id(a) == alert_id(replace(a, count=99, detected_at_event_time=T0))  # same window
    assert len({alert_id(x) for x in ALERTS}) == len(ALERTS)
    assert alert_id(a) != alert_id(replace(a, detector="ip_flood"))
    assert alert_id(a) != alert_id(replace(a, key_type="ip"))
    assert alert_id(a) != alert_id(replace(a, severity="high"))  # an escalation is a new alert


def read_back(catalog: SqlCatalog) -> list[Alert]:
    rows = run_query(
        catalog,
        "SELECT detector, key_type, key_value, window_start, window_end, first_event_time, "
        f"detected_at_event_time, severity, count FROM {ALERTS_TABLE} ORDER BY window_start, severity",
    ).to_pylist()
    return [Alert(**row) for row in rows]


def test_alert_store_round_trip_is_idempotent(tmp_path: Path) -> None:
    catalog = open_lake_catalog(tmp_path / "lake")
    store = AlertStore(catalog, flush_every=2)
    store.send(ALERTS[:3])
    assert (store.commits, store.pending) == (1, 1)  # flushed by itself at 2
    store.send(ALERTS[3:])
    store.close()
    assert (store.written, store.commits, store.pending) == (5, 3, 0)
    assert read_back(catalog) == ALERTS
    ids = run_query(catalog, f"SELECT alert_id, recorded_at FROM {ALERTS_TABLE}").to_pylist()
    assert {r["alert_id"] for r in ids} == {alert_id(a) for a in ALERTS}
    assert all(r["recorded_at"] is not None for r in ids)

    again = AlertStore(catalog, flush_every=2)  # a new run: the stored ids are loaded
    assert ALERTS[0] in again
    snapshots = len(again.table.snapshots())
    again.send([*ALERTS, ALERTS[0]])
    escalated = replace(ALERTS[1], severity="high", count=11)
    again.send([escalated, escalated])
    again.close()
    assert (again.written, again.skipped, again.commits) == (1, 7, 1)
    assert len(again.table.snapshots()) == snapshots + 1
    assert read_back(catalog) == sorted([*ALERTS, escalated], key=lambda a: (a.window_start, a.severity))


def test_an_empty_store_commits_nothing(tmp_path: Path) -> None:
    catalog = open_lake_catalog(tmp_path / "lake")
    with AlertStore(catalog) as store:
        store.send([])
    assert store.commits == 0 and store.table.snapshots() == []
    assert run_query(catalog, f"SELECT count(*) AS n FROM {ALERTS_TABLE}").to_pylist() == [{"n": 0}]


# --- log and file sinks


def test_log_sink_writes_one_line_per_alert(caplog: pytest.LogCaptureFixture) -> None:
    sink = LogSink()
    with caplog.at_level(logging.INFO, logger="c360.stream.alerts"):
        sink.send([ALERTS[0], make_alert(1, severity="high")])
    sink.close()
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.WARNING]
    assert "reference user_id=100 severity=medium count=6" in caplog.records[0].getMessage()
    assert "\n" not in caplog.records[1].getMessage()


def test_file_sink_appends_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "out" / "alerts.jsonl"
    sink = FileSink(path)
    sink.send(ALERTS[:2])
    assert len(path.read_text().splitlines()) == 2  # flushed: readable before close
    sink.send([])
    sink.close()
    reopened = FileSink(path)  # a later run appends
    reopened.send(ALERTS[2:])
    reopened.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [a.as_dict() for a in ALERTS]
    assert (sink.written, reopened.written) == (2, 3)


# --- the webhook, against a real HTTP server


@dataclass
class Server:
    url: str
    statuses: list[int] = field(default_factory=list)  # answers to give, in order; then 200
    delay_s: list[float] = field(default_factory=list)  # seconds to wait before answering, in order
    received: list[object] = field(default_factory=list)  # bodies answered with 2xx
    requests: int = 0


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests += 1
            if state.delay_s:
                time.sleep(state.delay_s.pop(0))
            status = state.statuses.pop(0) if state.statuses else 200
            if status < 300:
                assert self.headers["Content-Type"] == "application/json"
                state.received.append(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/alerts"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_webhook_posts_each_batch_as_a_json_array(server: Server) -> None:
    sink = WebhookSink(server.url, timeout=2, retries=0)
    sink.send(ALERTS[:2])
    sink.send([])  # nothing to say: no request
    sink.send(ALERTS[2:])
    sink.close()
    assert server.received == [[a.as_dict() for a in ALERTS[:2]], [a.as_dict() for a in ALERTS[2:]]]
    assert (server.requests, sink.delivered, sink.failures) == (2, 5, 0)


def test_webhook_retries_server_errors_and_delivers_once(server: Server) -> None:
    server.statuses = [500, 500, 200]
    sink = WebhookSink(server.url, timeout=2, retries=3, backoff=0.01)
    sink.send(ALERTS)
    sink.close()
    assert server.received == [[a.as_dict() for a in ALERTS]]
    assert (server.requests, sink.attempts, sink.delivered, sink.failures) == (3, 3, 5, 0)


def test_webhook_retries_a_timeout(server: Server) -> None:
    server.delay_s = [1.0]
    sink = WebhookSink(server.url, timeout=0.2, retries=2, backoff=0.01)
    sink.send(ALERTS[:1])
    sink.close()
    assert sink.failures == 0 and sink.delivered == 1 and sink.attempts == 2


def test_webhook_gives_up_after_the_retries_and_goes_on(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.statuses = [503] * 3 + [400]
    sink = WebhookSink(server.url, timeout=2, retries=2, backoff=0.01)
    sink.send(ALERTS[:2])  # 503 three times: given up
    sink.send(ALERTS[2:])  # 400: refused, not retried
    sink.send(ALERTS[:1])  # the server is fine again
    sink.close()
    assert (server.requests, sink.failures, sink.failed_alerts, sink.delivered) == (5, 2, 5, 1)
    assert server.received == [[ALERTS[0].as_dict()]]
    assert "HTTP 503" in caplog.text and "HTTP 400" in caplog.text


def test_an_unreachable_webhook_counts_failures_without_raising(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = WebhookSink(f"http://127.0.0.1:{port}/alerts", timeout=1, retries=2, backoff=0.01)
    sink.send(ALERTS[:2])
    sink.send(ALERTS[2:])
    sink.close()
    assert (sink.failures, sink.failed_alerts, sink.attempts, sink.delivered) == (2, 5, 6, 0)
    assert "not delivered after 3 attempts" in caplog.text


def test_a_bad_webhook_url_is_refused_at_once() -> None:
    with pytest.raises(ConfigError):
        WebhookSink("ftp://example.com/x")
    with pytest.raises(ConfigError):
        WebhookSink("not a url")


# --- fan-out


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[Alert]] = []
        self.closed = False
        self.fail = fail

    def send(self, alerts: list[Alert]) -> None:
        if self.fail:
            raise OSError("disk full")
        self.batches.append(alerts)

    def close(self) -> None:
        self.closed = True


def test_fan_out_batches_alerts_and_isolates_the_sinks(caplog: pytest.LogCaptureFixture) -> None:
    good, bad, other = Recorder(), Recorder(fail=True), Recorder()
    assert isinstance(good, Sink)
    fan = fan_out([good, bad, other])
    for alert in ALERTS[:3]:
        fan(alert)
    fan.flush()
    fan.flush()  # nothing collected since: nothing sent
    fan(ALERTS[3])
    fan.send([ALERTS[4]])
    fan.close()
    assert good.batches == other.batches == [ALERTS[:3], ALERTS[3:]]
    assert good.closed and bad.closed and other.closed
    assert fan.errors == 2 and "disk full" in caplog.text


# --- replay into sinks


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    lines = [",".join(COLUMNS)] + [",".join(f'"{r[c]}"' for c in COLUMNS) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def identity(a: Alert) -> tuple:
    return (a.window_start, a.detector, a.key_type, a.key_value, a.severity)


def test_replay_sends_each_micro_batch_to_the_sinks(tmp_path: Path) -> None:
    rows = [event(s, user=7) for s in range(6)]  # 6 events of user 7 in 10 s: reference
    rows += [event(20 + s * 0.5, user=8) for s in range(11)]  # 11 in 10 s: medium, then high
    rows += [event(40 + s, user=9) for s in range(5)]  # 5: nothing
    path = write_csv(tmp_path / "events.csv", rows)
    catalog = open_lake_catalog(tmp_path / "lake")
    recorder = Recorder()
    out = tmp_path / "alerts.jsonl"
    result = replay(path, batch_events=4, sinks=[FileSink(out), AlertStore(catalog), recorder])
    reference = [a for a in result.alerts if a.detector == "reference"]
    assert [(a.key_value, a.severity) for a in reference] == [
        ("session-7", "medium"), ("session-8", "medium"), ("session-8", "high"),
    ]  # fmt: skip
    assert recorder.closed and all(batch for batch in recorder.batches)
    assert len(recorder.batches) > 1  # one send per micro-batch that raised alerts
    assert [a for batch in recorder.batches for a in batch] == result.alerts
    assert [json.loads(line) for line in out.read_text().splitlines()] == [a.as_dict() for a in result.alerts]
    assert sorted(read_back(catalog), key=identity) == sorted(result.alerts, key=identity)

    again = replay(path, batch_events=4, sinks=[AlertStore(catalog)])  # the same recording again
    assert again.alerts == result.alerts
    assert len(read_back(catalog)) == len(result.alerts)  # stored once
    assert replay(path, batch_events=4).alerts == result.alerts  # without sinks: unchanged
