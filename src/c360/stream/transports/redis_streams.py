"""Redis Streams: one stream entry per message (field ``e``: Arrow IPC), one consumer group.

A consumer reads its own pending entries first (those delivered to it and never acknowledged,
e.g. before it was killed), then entries other consumers left pending longer than ``ack_wait_s``
(XAUTOCLAIM), then new ones. ``XACK`` happens only when the runner says the events are handled,
so a restarted consumer under the same name resumes from its last acknowledged position.
"""

from __future__ import annotations

import logging
import time

import pyarrow as pa
import redis

from c360.stream.settings import TransportSettings
from c360.stream.transports.base import Delivery, Transport, TransportUnavailable, decode, empty_table, encode

log = logging.getLogger("c360.stream.transport")
DEFAULT_URL = "redis://127.0.0.1:6379/0"
_FIELD = b"e"
_CLAIM_EVERY_S = 1.0


class RedisTransport(Transport):
    kind = "redis"

    def __init__(self, settings: TransportSettings) -> None:
        super().__init__(settings)
        self.url = settings.url or DEFAULT_URL
        self._client = redis.Redis.from_url(
            self.url, socket_connect_timeout=2, socket_timeout=max(5.0, 2 * settings.ack_wait_s)
        )
        self._group_ready = False
        # Entries this consumer name was given before and never acknowledged (a previous run that
        # died): read from this cursor until exhausted, then None.
        self._pending_from: str | None = "0"
        self._claimed_at = 0.0
        self.trimmed = 0  # pending messages lost to retention before they were handled

    def describe(self) -> str:
        return f"{self.url} stream {self.settings.stream!r}"

    def _send(self, message: pa.Table) -> None:
        try:
            self._client.xadd(
                self.settings.stream, {_FIELD: encode(message)}, maxlen=self.settings.max_messages,
                approximate=True,
            )  # fmt: skip
        except redis.RedisError as exc:
            raise TransportUnavailable(f"Redis at {self.url}: {exc}") from exc

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self._client.xgroup_create(self.settings.stream, self.settings.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def consume(self, max_events: int, timeout_s: float) -> Delivery:
        count = max(1, max_events // self.settings.message_events)
        s = self.settings
        try:
            self._ensure_group()
            entries: list[tuple[bytes, dict[bytes, bytes]]] = []
            redelivered = False
            if self._pending_from is not None:
                old = {s.stream: self._pending_from}
                reply = self._client.xreadgroup(s.group, s.consumer, old, count=count)
                entries = reply[0][1] if reply else []
                self._pending_from = entries[-1][0] if entries else None
                entries = self._drop_trimmed(entries)
                redelivered = bool(entries)
            if not entries and time.monotonic() - self._claimed_at > _CLAIM_EVERY_S:
                self._claimed_at = time.monotonic()
                idle_ms = int(s.ack_wait_s * 1000)
                reply = self._client.xautoclaim(s.stream, s.group, s.consumer, idle_ms, "0-0", count=count)
                entries = self._drop_trimmed(reply[1])
                redelivered = bool(entries)
            if not entries:
                block = max(1, int(timeout_s * 1000))
                new = {s.stream: ">"}
                reply = self._client.xreadgroup(s.group, s.consumer, new, count=count, block=block)
                entries = reply[0][1] if reply else []
        except redis.RedisError as exc:
            self._group_ready = False
            raise TransportUnavailable(f"Redis at {self.url}: {exc}") from exc
        if not entries:
            return Delivery(empty_table())
        table = decode([fields[_FIELD] for _, fields in entries])
        ids = [entry_id for entry_id, _ in entries]
        return Delivery(table, ids, redelivered=table.num_rows if redelivered else 0)

    def _drop_trimmed(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list:
        """Pending entries whose message retention (``max_messages``) trimmed away: their events are
        lost, which is reported, and they are acknowledged so they stop coming back."""
        trimmed = [entry_id for entry_id, fields in entries if not fields]
        if trimmed:
            self.trimmed += len(trimmed)
            self._client.xack(self.settings.stream, self.settings.group, *trimmed)
            log.error(
                "redis transport: %d pending messages of %s were trimmed before being handled; "
                "raise [stream.transport] max_messages",
                len(trimmed), self.describe(),
            )  # fmt: skip
        return [(entry_id, fields) for entry_id, fields in entries if fields]

    def ack(self, delivery: Delivery) -> None:
        if not delivery.token:
            return
        try:
            self._client.xack(self.settings.stream, self.settings.group, *delivery.token)
        except redis.RedisError as exc:
            raise TransportUnavailable(f"Redis at {self.url}: {exc}") from exc

    def close(self) -> None:
        super().close()
        self._client.close()
