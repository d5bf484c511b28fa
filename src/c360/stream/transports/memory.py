"""The embedded default: an in-process queue shared by every transport opened on the same name.

The collector and ``c360 stream run`` in one process meet here with no server. Nothing survives
the process: at-least-once holds within it (a delivery not acknowledged when its consumer closes
goes back to the head of the queue), and the queue refuses messages beyond ``buffer_events`` so a
stalled consumer pushes back on the publisher instead of growing memory without bound.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque

import pyarrow as pa

from c360.stream.settings import TransportSettings
from c360.stream.transports.base import Delivery, Transport, TransportUnavailable, empty_table


class _Queue:
    def __init__(self) -> None:
        self.ready = threading.Condition()
        self.messages: deque[pa.Table] = deque()
        self.events = 0  # in ``messages``, not counting those in flight
        self.in_flight: dict[int, list[pa.Table]] = {}
        self.tokens = itertools.count(1)


_QUEUES: dict[str, _Queue] = {}
_QUEUES_LOCK = threading.Lock()


def _queue(name: str) -> _Queue:
    with _QUEUES_LOCK:
        return _QUEUES.setdefault(name, _Queue())


def drop_queue(name: str) -> None:
    """Forget a named queue and what it holds (tests, and a collector shutting down)."""
    with _QUEUES_LOCK:
        _QUEUES.pop(name, None)


class MemoryTransport(Transport):
    kind = "memory"

    def __init__(self, settings: TransportSettings) -> None:
        super().__init__(settings)
        self._queue = _queue(settings.stream)
        self._mine: set[int] = set()

    def describe(self) -> str:
        return f"memory:{self.settings.stream}"

    def _send(self, message: pa.Table) -> None:
        q = self._queue
        with q.ready:
            if q.events + message.num_rows > self.settings.buffer_events:
                raise TransportUnavailable(
                    f"in-process queue {self.settings.stream!r} is full ({q.events} events): "
                    "the consumer is behind"
                )
            q.messages.append(message)
            q.events += message.num_rows
            q.ready.notify_all()

    def consume(self, max_events: int, timeout_s: float) -> Delivery:
        q = self._queue
        deadline = time.monotonic() + timeout_s
        with q.ready:
            while not q.messages:
                left = deadline - time.monotonic()
                if left <= 0:
                    return Delivery(empty_table())
                q.ready.wait(left)
            taken: list[pa.Table] = []
            count = 0
            while q.messages and (not taken or count + q.messages[0].num_rows <= max_events):
                message = q.messages.popleft()
                taken.append(message)
                count += message.num_rows
            q.events -= count
            token = next(q.tokens)
            q.in_flight[token] = taken
            self._mine.add(token)
        return Delivery(pa.concat_tables(taken), token)

    def ack(self, delivery: Delivery) -> None:
        if delivery.token is None:
            return
        with self._queue.ready:
            self._queue.in_flight.pop(delivery.token, None)
            self._mine.discard(delivery.token)

    def close(self) -> None:
        super().close()
        q = self._queue
        with q.ready:
            for token in sorted(self._mine, reverse=True):  # newest first, so the oldest ends up first
                for message in reversed(q.in_flight.pop(token, [])):
                    q.messages.appendleft(message)
                    q.events += message.num_rows
            self._mine.clear()
            q.ready.notify_all()
