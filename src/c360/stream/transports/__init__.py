"""Stream transports behind one interface (:class:`~c360.stream.transports.base.Transport`).

``open_transport(settings)`` gives the one [stream.transport] names: ``memory`` (in-process, the
embedded default), ``redis`` (Redis Streams with a consumer group) or ``nats`` (NATS JetStream with
a durable pull consumer). The broker clients are imported only when their kind is chosen.
"""

from __future__ import annotations

from c360.stream.settings import StreamSettings, TransportSettings
from c360.stream.transports.base import (
    EVENT_ID,
    PUBLISHED_US,
    WIRE_SCHEMA,
    Delivery,
    Transport,
    TransportFull,
    TransportUnavailable,
)

__all__ = [
    "EVENT_ID", "PUBLISHED_US", "WIRE_SCHEMA", "Delivery", "Transport", "TransportFull",
    "TransportUnavailable", "open_transport",
]  # fmt: skip


def open_transport(settings: TransportSettings | StreamSettings) -> Transport:
    """The transport [stream.transport] describes (``settings`` may be the whole [stream])."""
    if isinstance(settings, StreamSettings):
        settings = settings.transport
    if settings.kind == "redis":
        from c360.stream.transports.redis_streams import RedisTransport

        return RedisTransport(settings)
    if settings.kind == "nats":
        from c360.stream.transports.nats_jetstream import NatsTransport

        return NatsTransport(settings)
    from c360.stream.transports.memory import MemoryTransport

    return MemoryTransport(settings)
