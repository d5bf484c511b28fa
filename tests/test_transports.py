"""The three transports behind one interface, on the real local Redis and NATS JetStream: events
come out as published, acknowledged ones never again, unacknowledged ones again after a restart,
and a broker outage is buffered within its bound, reported, and delivered once the broker is back."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pyarrow as pa
import pytest

from c360.stream.settings import TransportSettings
from c360.stream.transports import (
    EVENT_ID,
    PUBLISHED_US,
    WIRE_SCHEMA,
    Transport,
    TransportFull,
    open_transport,
)
from c360.stream.transports.memory import drop_queue

KINDS = ["memory", "redis", "nats"]


def events(n: int, start: int = 0, prefix: str = "e") -> list[dict[str, str]]:
    return [
        {
            "event_id": f"{prefix}{i:06d}",
            "event_time": f"2024-05-16 12:{i // 60 % 60:02d}:{i % 60:02d} UTC",
            "event_type": "view",
            "product_id": str(1000 + i % 7),
            "price": "9.99",
            "user_id": str(500 + i % 11),
            "user_session": f"s{i % 5}",
            "ip": "10.0.0.1",
            "user_agent": "Mozilla/5.0",
        }
        for i in range(start, start + n)
    ]


def settings_for(kind: str, url: str = "", **extra: object) -> TransportSettings:
    name = f"t-{kind}-{uuid.uuid4().hex[:10]}"
    return TransportSettings(
        kind=kind, url=url, stream=name, subject=name.replace("-", "."), message_events=100, **extra
    )


@pytest.fixture
def make(request: pytest.FixtureRequest) -> Iterator:
    """Opens transports of a kind on one fresh stream name; deletes the stream afterwards."""
    opened: list[Transport] = []

    def open_one(kind: str, url: str = "", settings: TransportSettings | None = None, **extra: object):
        settings = settings or settings_for(kind, url, **extra)
        transport = open_transport(settings)
        opened.append(transport)
        return transport

    yield open_one
    for transport in opened:
        transport.close()
    for settings in {t.settings.stream: t.settings for t in opened}.values():
        _delete_stream(request, settings)


def _delete_stream(request: pytest.FixtureRequest, settings: TransportSettings) -> None:
    if settings.kind == "memory":
        drop_queue(settings.stream)
    elif settings.kind == "redis":
        import redis

        redis.Redis.from_url(request.getfixturevalue("redis_url")).delete(settings.stream)
    else:
        import asyncio
        import concurrent.futures

        import nats

        async def delete() -> None:
            nc = await nats.connect(request.getfixturevalue("nats_url"))
            try:
                await nc.jetstream().delete_stream(settings.stream)
            finally:
                await nc.close()

        # On a thread of its own: a loop may already run on this one (Playwright's, in the same session).
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, delete()).result()


def url_of(kind: str, request: pytest.FixtureRequest) -> str:
    return "" if kind == "memory" else request.getfixturevalue(f"{kind}_url")


def drain(transport: Transport, timeout_s: float = 0.5, ack: bool = True) -> pa.Table:
    """Everything the transport delivers until it is quiet for ``timeout_s``."""
    tables = []
    while (delivery := transport.consume(1_000, timeout_s)).size:
        tables.append(delivery.table)
        if ack:
            transport.ack(delivery)
    return pa.concat_tables(tables) if tables else WIRE_SCHEMA.empty_table()


@pytest.mark.parametrize("kind", KINDS)
def test_events_come_out_as_published_and_once_acknowledged_never_again(kind, make, request) -> None:
    url = url_of(kind, request)
    publisher = make(kind, url)
    assert publisher.publish(events(250)) == 250
    assert publisher.publish(pa.Table.from_pylist(events(50, start=250))) == 50
    consumer = make(kind, url, settings=publisher.settings)
    got = drain(consumer)
    assert got.schema == WIRE_SCHEMA
    assert got[EVENT_ID].to_pylist() == [f"e{i:06d}" for i in range(300)]  # in publication order
    row = got.slice(7, 1).to_pylist()[0]
    assert {k: row[k] for k in events(1, start=7)[0]} == events(1, start=7)[0]
    assert row["category_id"] == "" and row["brand"] == ""  # columns not given arrive empty
    assert abs(row[PUBLISHED_US] / 1e6 - time.time()) < 60
    assert publisher.stats.published == 300 and publisher.stats.buffered == 0
    assert drain(consumer).num_rows == 0
    consumer.close()
    again = make(kind, url, settings=publisher.settings)
    assert drain(again).num_rows == 0  # acknowledged: not delivered to a restarted consumer either


@pytest.mark.parametrize("kind", KINDS)
def test_unacknowledged_events_are_delivered_again_after_a_restart(kind, make, request) -> None:
    url = url_of(kind, request)
    first = make(kind, url, ack_wait_s=1.0)
    first.publish(events(500))
    acked = first.consume(200, 1.0)
    first.ack(acked)
    held = first.consume(200, 1.0)  # handled, never acknowledged: the consumer "dies"
    assert acked.size == 200 and held.size == 200
    first.close()
    if kind == "nats":
        time.sleep(1.2)  # JetStream redelivers after ack_wait
    restarted = make(kind, url, settings=first.settings)
    got = drain(restarted, timeout_s=1.5)
    ids = Counter(got[EVENT_ID].to_pylist())
    assert set(ids) == {f"e{i:06d}" for i in range(200, 500)}
    assert set(ids.values()) == {1}
    assert got[EVENT_ID].to_pylist()[:200] == held.table[EVENT_ID].to_pylist()  # resumes where it was


def test_events_without_ids_get_unique_ids_and_given_ids_are_kept(make) -> None:
    transport = make("memory")
    plain = [{k: v for k, v in e.items() if k != "event_id"} for e in events(1_000)]
    transport.publish(plain[:500])
    transport.publish([*plain[500:999], {**plain[999], "event_id": "mine"}])
    ids = drain(transport)[EVENT_ID].to_pylist()
    assert len(set(ids)) == 1_000 and ids[-1] == "mine" and all(ids)


def test_in_process_queue_pushes_back_when_the_consumer_is_behind(make) -> None:
    transport = make("memory", buffer_events=300, backoff_initial_s=0.01)
    transport.publish(events(300))  # fills the queue
    transport.publish(events(200, start=300))  # waits in the publisher's buffer
    assert transport.stats.buffered == 200 and transport.stats.failures == 1
    with pytest.raises(TransportFull, match="bound 300"):
        transport.publish(events(150, start=500))
    assert transport.stats.rejected == 150
    assert drain(transport).num_rows == 300
    assert transport.flush(timeout_s=2)
    assert drain(transport)[EVENT_ID].to_pylist() == [f"e{i:06d}" for i in range(300, 500)]


class Proxy:
    """A TCP forwarder to a real server that can be cut and restored: a broker outage without
    touching the machine's shared Redis and NATS."""

    def __init__(self, target: str) -> None:
        host, _, port = target.split("://")[-1].split("/")[0].partition(":")
        self.target = (host, int(port))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close alone may not
            self._listener.close()
            self._listener = None
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self._connections = []


@pytest.mark.parametrize("kind", ["redis", "nats"])
def test_broker_outage_is_buffered_within_the_bound_reported_and_delivered_after(
    kind, make, request, caplog
) -> None:
    real = url_of(kind, request)
    proxy = Proxy(real)
    proxy.start()
    scheme = "redis" if kind == "redis" else "nats"
    suffix = "/0" if kind == "redis" else ""
    publisher = make(
        kind, f"{scheme}://127.0.0.1:{proxy.port}{suffix}", buffer_events=1_000, backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )  # fmt: skip
    publisher.publish(events(300))  # delivered while the broker is up
    assert publisher.stats.published == 300
    proxy.stop()
    with caplog.at_level("ERROR", logger="c360.stream.transport"):
        accepted = publisher.publish(events(600, start=300))
        time.sleep(0.1)
        accepted += publisher.publish(events(300, start=900))
    assert accepted == 900
    assert publisher.stats.buffered == 900 and publisher.stats.failures >= 1
    assert publisher.stats.down_since is not None and publisher.stats.last_error
    assert "unreachable" in caplog.text and "buffering up to 1000 events" in caplog.text
    with pytest.raises(TransportFull, match="900 events wait"):
        publisher.publish(events(200, start=1_200))  # beyond the bound: refused, nothing kept
    assert not publisher.flush(timeout_s=0.5)  # still down: backs off, keeps the buffer
    failures = publisher.stats.failures
    assert 2 <= failures <= 12  # backoff: a handful of attempts in half a second, not a busy loop
    proxy.start()
    assert publisher.flush(timeout_s=10)
    assert publisher.stats.published == 1_200 and publisher.stats.down_since is None
    consumer = make(kind, real, settings=publisher.settings.model_copy(update={"url": real}))
    ids = Counter(drain(consumer, timeout_s=1.0)[EVENT_ID].to_pylist())
    assert set(ids) == {f"e{i:06d}" for i in range(1_200)}  # none lost; the refused 200 never sent
    assert max(ids.values()) == 1
    proxy.stop()
