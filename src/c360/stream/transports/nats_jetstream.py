"""NATS JetStream: one stream capturing ``subject``, one durable pull consumer named ``group``.

nats-py is asynchronous; the transport runs its client on a private event loop in a daemon thread
so the runner and the collector can call it like the other transports. A message not acknowledged
within ``ack_wait_s`` (its consumer was killed, or is stuck) is delivered again, and the durable
consumer remembers the acknowledged position across restarts. Each message carries a
``Nats-Msg-Id`` made of its first and last event ids, so a publisher retrying after an ambiguous
failure is deduplicated by the server as well as by the runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
import pyarrow as pa
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError

from c360.stream.settings import TransportSettings
from c360.stream.transports.base import (
    EVENT_ID,
    Delivery,
    Transport,
    TransportUnavailable,
    decode,
    empty_table,
    encode,
)

log = logging.getLogger("c360.stream.transport")
DEFAULT_URL = "nats://127.0.0.1:4222"
_T = TypeVar("_T")


class NatsTransport(Transport):
    kind = "nats"

    def __init__(self, settings: TransportSettings) -> None:
        super().__init__(settings)
        self.url = settings.url or DEFAULT_URL
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="c360-nats", daemon=True)
        self._thread.start()
        self._nc: Any = None
        self._js: Any = None
        self._sub: Any = None

    def describe(self) -> str:
        return f"{self.url} stream {self.settings.stream!r}"

    def _run(self, coro: Coroutine[Any, Any, _T], timeout_s: float) -> _T:
        try:
            return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s + 5.0)
        except (NatsError, OSError, TimeoutError) as exc:
            if not isinstance(exc, NatsTimeout):
                self._run_quietly(self._drop())
            raise TransportUnavailable(f"NATS at {self.url}: {type(exc).__name__}: {exc}") from exc

    def _run_quietly(self, coro: Coroutine[Any, Any, None]) -> None:
        # The connection is being thrown away: its errors no longer matter.
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(coro, self._loop).result(5.0)

    async def _connect(self) -> None:
        if self._nc is not None and self._nc.is_connected:
            return
        await self._drop()
        # Reconnecting is the transport's job (with its backoff and reporting), not the client's:
        # one attempt, and a bound on it (with 0 attempts nats-py 2.16 retries forever).
        connecting = nats.connect(
            self.url,
            connect_timeout=2,
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=0.1,
            error_cb=self._client_error,
        )
        self._nc = await asyncio.wait_for(connecting, 5.0)
        self._js = self._nc.jetstream(timeout=10)
        s = self.settings
        try:
            await self._js.stream_info(s.stream)
        except NotFoundError:
            config = StreamConfig(
                name=s.stream, subjects=[s.subject], max_msgs=s.max_messages, duplicate_window=120
            )
            await self._js.add_stream(config)

    async def _client_error(self, exc: Exception) -> None:
        log.debug("NATS client at %s: %s", self.url, exc)  # the failing call reports it

    async def _drop(self) -> None:
        nc, self._nc, self._js, self._sub = self._nc, None, None, None
        if nc is not None and not nc.is_closed:
            await nc.close()

    async def _publish(self, payload: bytes, message_id: str) -> None:
        await self._connect()
        await self._js.publish(
            self.settings.subject, payload, stream=self.settings.stream, headers={"Nats-Msg-Id": message_id}
        )

    def _send(self, message: pa.Table) -> None:
        ids = message[EVENT_ID]
        message_id = f"{ids[0].as_py()}..{ids[-1].as_py()}:{message.num_rows}"
        self._run(self._publish(encode(message), message_id), 10.0)

    async def _fetch(self, count: int, timeout_s: float) -> list[Any]:
        await self._connect()
        if self._sub is None:
            s = self.settings
            self._sub = await self._js.pull_subscribe(
                s.subject,
                durable=s.group,
                stream=s.stream,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_wait=s.ack_wait_s,
                    max_ack_pending=max(1_000, 4 * s.buffer_events // s.message_events),
                ),
            )
        try:
            return await self._sub.fetch(batch=count, timeout=max(timeout_s, 0.05))
        except (TimeoutError, NatsTimeout):
            return []

    def consume(self, max_events: int, timeout_s: float) -> Delivery:
        count = max(1, max_events // self.settings.message_events)
        messages = self._run(self._fetch(count, timeout_s), timeout_s)
        if not messages:
            return Delivery(empty_table())
        tables = [decode([m.data]) for m in messages]
        again = sum(t.num_rows for t, m in zip(tables, messages, strict=True) if m.metadata.num_delivered > 1)
        return Delivery(pa.concat_tables(tables), messages, redelivered=again)

    async def _ack(self, messages: list[Any]) -> None:
        for message in messages:
            await message.ack()

    def ack(self, delivery: Delivery) -> None:
        if delivery.token:
            self._run(self._ack(delivery.token), 10.0)

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        super().close()
        self._run_quietly(self._drop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
