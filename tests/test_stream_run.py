"""``c360 stream run``: a runner killed mid-stream on real Redis and NATS loses nothing and counts
nothing twice once restarted; late and out-of-order events are handled as the watermark says;
redeliveries are skipped by event id; a broker outage is waited out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from c360.lake.catalog import open_lake_catalog
from c360.lake.tables import load_table
from c360.stream.events import COLUMNS
from c360.stream.processor import Alert
from c360.stream.raw_sink import RawSink
from c360.stream.runner import SeenIds, StreamRunner, start_in_thread
from c360.stream.settings import RawSinkSettings, StreamSettings
from c360.stream.transports import EVENT_ID, open_transport
from c360.stream.transports.memory import drop_queue
from tests.test_transports import Proxy, _delete_stream, events

ROOT = Path(__file__).resolve().parents[1]


def landed_ids(lake: Path) -> Counter:
    raw = load_table(open_lake_catalog(lake), "raw.clickstream")
    if raw is None:
        return Counter()
    return Counter(raw.scan(selected_fields=(EVENT_ID,)).to_arrow()[EVENT_ID].to_pylist())


def landed_batches(lake: Path) -> int:
    manifest = load_table(open_lake_catalog(lake), "raw.batches")
    return 0 if manifest is None else manifest.scan().to_arrow().num_rows


def project(directory: Path, kind: str, url: str, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "c360.toml").write_text(
        f"""
[stream.transport]
kind = "{kind}"
url = "{url}"
stream = "{name}"
subject = "{name.replace("-", ".")}"
batch_events = 500
message_events = 100
ack_wait_s = 2.0

[stream.raw_sink]
every_events = 500
every_seconds = 1.0
""",
        encoding="utf-8",
    )
    return directory


@pytest.mark.parametrize("kind", ["redis", "nats"])
def test_a_runner_killed_mid_stream_and_restarted_loses_nothing_and_counts_nothing_twice(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"{kind}_url")
    name = f"kill-{kind}-{uuid.uuid4().hex[:8]}"
    p = project(tmp_path / "p", kind, url, name)
    subject = name.replace("-", ".")
    settings = StreamSettings.model_validate(
        {"transport": {"kind": kind, "url": url, "stream": name, "subject": subject, "message_events": 100}}
    )
    publisher = open_transport(settings)
    n = 20_000
    try:
        assert publisher.publish(events(n)) == n
        command = [sys.executable, "-m", "c360", "stream", "run", "--idle-exit", "4", "--dir", str(p)]
        first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while landed_batches(p / "lake") < 3 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert first.poll() is None, "the runner finished before it could be killed mid-stream"
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        before = landed_ids(p / "lake")
        assert 0 < sum(before.values()) < n  # killed mid-stream
        second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stdout + second.stderr
        after = landed_ids(p / "lake")
        assert set(after) == {f"e{i:06d}" for i in range(n)}  # nothing lost
        assert set(after.values()) == {1}  # nothing landed twice
        assert f"{n - sum(before.values()):,} events handled" in second.stdout  # nor handled twice
    finally:
        publisher.close()
        _delete_stream(request, settings.transport)


def test_events_landed_but_not_acknowledged_are_skipped_after_a_restart(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url")
    name = f"lost-ack-{uuid.uuid4().hex[:8]}"
    settings = StreamSettings.model_validate(
        {"transport": {"kind": "redis", "url": url, "stream": name, "message_events": 100}}
    )
    lake = tmp_path / "lake"
    catalog = open_lake_catalog(lake)
    transport = open_transport(settings)
    try:
        transport.publish(events(1_000))
        runner = StreamRunner(transport, settings, raw_sink=RawSink(catalog, lake, RawSinkSettings()))
        transport.ack = lambda delivery: None  # killed after each landing, before acknowledging
        runner.run(idle_exit_s=0.5)
        assert sum(landed_ids(lake).values()) == 1_000 and runner.stats.processed == 1_000
        transport.close()

        restarted = open_transport(settings)
        again = StreamRunner(restarted, settings, raw_sink=RawSink(catalog, lake, RawSinkSettings()))
        stats = again.run(idle_exit_s=0.5)
        assert stats.delivered == 1_000 and stats.redelivered == 1_000  # the transport sends them again …
        assert stats.duplicates == 1_000 and stats.processed == 0  # … and they are recognized as landed
        assert landed_ids(lake) == Counter({f"e{i:06d}": 1 for i in range(1_000)})
        assert again.raw_sink is not None and again.raw_sink.landed_events == 0
        restarted.close()
        assert open_transport(settings).consume(1_000, 0.2).size == 0  # and now acknowledged
    finally:
        _delete_stream(request, settings.transport)


def clicks(spec: list[tuple[str, int]]) -> list[dict[str, str]]:
    """Events of ``user`` at second ``t`` after 2024-05-16 12:00:00, ids in arrival order."""
    return [
        {
            "event_id": f"w{i:03d}",
            "event_time": f"2024-05-16 12:{t // 60:02d}:{t % 60:02d} UTC",
            "event_type": "view",
            "product_id": "1",
            "category_id": "2",
            "price": "1.00",
            "user_id": user,
            "user_session": f"s-{user}",
            "ip": f"10.0.0.{ord(user)}",
            "user_agent": "Mozilla/5.0",
        }
        for i, (user, t) in enumerate(spec)
    ]


def test_late_and_out_of_order_events_follow_the_watermark_and_redeliveries_are_skipped() -> None:
    settings = StreamSettings(detectors=["reference"], allowed_lateness_s=30, transport={"stream": "wm"})
    spec = [("A", t) for t in range(100, 105)]  # five events: one short of the threshold
    spec += [("B", 200), ("A", 105)]  # A's sixth arrives when the watermark is 170: late, dropped
    spec += [("C", t) for t in range(190, 195)]  # behind 200 but within the lateness: used
    spec += [("B", 215), ("C", 195)]  # C's sixth, out of order (watermark 185): completes its window
    transport = open_transport(settings)
    seen: list[pa.Table] = []
    raised: list[Alert] = []

    def broken(table: pa.Table) -> None:
        raise RuntimeError("a live counter failing must not stop detection")

    try:
        transport.publish(clicks(spec))
        transport.publish(clicks(spec)[3:9])  # the same events again (a publisher retrying)
        runner = StreamRunner(transport, settings, on_events=[broken, seen.append], on_alert=raised.append)
        stats = runner.run(idle_exit_s=0.3)
    finally:
        transport.close()
        drop_queue("wm")
    counts = runner.processor.counts
    assert (counts.events, counts.late, counts.out_of_order, counts.accepted) == (14, 1, 6, 13)
    assert (stats.delivered, stats.duplicates, stats.processed) == (20, 6, 14)
    alerts = [(a.detector, a.key_value, a.count, a.window_start.second) for a in raised]
    assert alerts == [("reference", "C", 6, 10)]  # window 12:03:10-12:03:20; none for A
    assert stats.consumer_errors >= 1
    assert sum(t.num_rows for t in seen) == 14  # every valid event once, late ones included


def test_a_broker_outage_while_consuming_is_waited_out(request: pytest.FixtureRequest) -> None:
    real = request.getfixturevalue("redis_url")
    proxy = Proxy(real)
    proxy.start()
    name = f"outage-{uuid.uuid4().hex[:8]}"
    via_proxy = {"kind": "redis", "url": f"redis://127.0.0.1:{proxy.port}/0", "stream": name,
                 "message_events": 100, "backoff_initial_s": 0.05, "backoff_max_s": 0.2}  # fmt: skip
    settings = StreamSettings.model_validate({"transport": via_proxy})
    publisher = open_transport(settings.model_copy(update={"transport": settings.transport.model_copy(
        update={"url": real})}))  # fmt: skip
    consumer = open_transport(settings)
    try:
        publisher.publish(events(500))
        runner = StreamRunner(consumer, settings)
        while runner.stats.processed < 500:
            runner.step(0.5)
        proxy.stop()
        publisher.publish(events(500, start=500))
        for _ in range(5):
            assert runner.step(0.1) == 0
        assert runner.stats.transport_errors >= 5
        proxy.start()
        deadline = time.monotonic() + 20
        while runner.stats.processed < 1_000 and time.monotonic() < deadline:
            runner.step(0.2)
        runner.close()
        assert (runner.stats.processed, runner.stats.duplicates) == (1_000, 0)
    finally:
        proxy.stop()
        publisher.close()
        consumer.close()
        _delete_stream(request, settings.transport)


def test_stream_run_command_lands_a_replayed_recording_and_reports(tmp_path: Path) -> None:
    directory = tmp_path / "p"
    directory.mkdir()
    config = "[stream.transport]\nbatch_events = 400\nmessage_events = 200\n\n[stream.raw_sink]\n"
    config += "every_events = 400\n"
    (directory / "c360.toml").write_text(config, encoding="utf-8")
    recording = tmp_path / "events_20240516.csv"
    rows = clicks([("A", t) for t in range(100, 110)] + [("B", t) for t in range(0, 990)])
    lines = [",".join(COLUMNS)] + [",".join(r.get(k, "") for k in COLUMNS) for r in rows]
    recording.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "c360", "stream", "run", "--replay", str(recording), "--idle-exit", "1",
         "--dir", str(directory)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1,000 events handled" in done.stdout
    assert "raw.clickstream: 1,000 events landed in 3 batches" in done.stdout
    assert sum(landed_ids(directory / "lake").values()) == 1_000


def test_a_misspelt_stream_setting_is_refused_with_its_location(tmp_path: Path) -> None:
    (tmp_path / "c360.toml").write_text('[stream.transport]\nkinds = "redis"\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "c360", "stream", "run", "--dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "stream.transport.kinds" in done.stderr


def test_seen_ids_skip_repeats_within_and_across_batches_in_bounded_memory() -> None:
    seen = SeenIds(capacity=4)
    assert seen.fresh(pa.array(["a", "b", "a", "c"])).tolist() == [True, True, False, True]
    assert seen.fresh(pa.array(["c", "d", "e"])).tolist() == [False, True, True]  # a generation turns
    assert seen.fresh(pa.array(["a", "f", "g", "h", "i"])).tolist() == [False, True, True, True, True]
    assert len(seen) <= 2 * 4 + 4
    assert seen.fresh(pa.array(["a"])).tolist() == [True]  # forgotten after two generations


def test_a_runner_in_a_thread_consumes_what_another_thread_publishes_in_process(tmp_path: Path) -> None:
    settings = StreamSettings(transport={"stream": "beside-a-server"}, raw_sink={"every_events": 10_000})
    lake = tmp_path / "lake"
    collector, consumer = open_transport(settings), open_transport(settings)
    sink = RawSink(open_lake_catalog(lake), lake, settings.raw_sink)
    runner = StreamRunner(consumer, settings, raw_sink=sink)
    thread, stop = start_in_thread(runner)
    try:
        collector.publish(events(700))
        deadline = time.monotonic() + 10
        while runner.stats.processed < 700 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(timeout=10)
        collector.close()
        consumer.close()
        drop_queue("beside-a-server")
    assert not thread.is_alive() and runner.stats.processed == 700
    assert sum(landed_ids(lake).values()) == 700  # stopping landed what was held
