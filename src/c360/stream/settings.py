"""Detector thresholds, with defaults tuned on the simulator's attacks (seeds 42 and 7)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DETECTORS = (
    "reference", "ip_flood", "session_flood", "distributed_flood", "global_spike",
    "bot_agent", "bot_regular", "bot_no_dwell", "bot_cart_churn",
)  # fmt: skip


class _Strict(BaseModel):
    # A misspelt key in [stream] must fail loudly rather than silently fall back to a default.
    model_config = ConfigDict(extra="forbid")


class RateRule(_Strict):
    """More than ``threshold`` events per key in a window of ``window_s`` seconds starting every
    ``slide_s`` seconds (tumbling when equal); ``high`` raises the severity to high."""

    key: str = "user_id"
    window_s: float = 10.0
    slide_s: float = 10.0
    threshold: int = 5
    high: int | None = None


class DistributedFlood(_Strict):
    """Many distinct IPs on one target in a window, and global rate spikes."""

    targets: list[str] = Field(default_factory=lambda: ["product_id"])
    window_s: float = 300.0
    slide_s: float = 60.0
    distinct_ips: int = 20
    global_window_s: float = 60.0
    global_factor: float = 10.0  # a global window above factor × the running baseline is a spike
    global_min_count: int = 200
    global_baseline_half_life_windows: float = 60.0


class BotSignatures(_Strict):
    keys: list[str] = Field(default_factory=lambda: ["ip", "user_id"])
    agent_pattern: str = (
        r"(?i)(bot|crawl|spider|slurp|scrapy|python-requests|curl/|wget|headless|httpclient|go-http|java/)"
    )
    agent_window_s: float = 60.0  # one candidate per key and window; the cooldown thins them further
    regular_min_events: int = 10  # inter-event gaps of this many events in a row …
    regular_max_cv: float = 0.1  # … with a coefficient of variation at most this …
    regular_min_mean_s: float = 0.5  # … and a mean gap at least this (all-zero gaps are floods)
    regular_max_mean_s: float = 30.0
    dwell_key: str = "user_session"
    dwell_max_s: float = 1.0  # a view followed this soon by another view had no dwell
    dwell_window_s: float = 60.0
    dwell_threshold: int = 5  # more no-dwell views than this in the window
    churn_key: str = "user_id"
    churn_window_s: float = 300.0
    churn_slide_s: float = 60.0
    churn_threshold: int = 15  # more cart/remove_from_cart than this, and no purchase, in the window


class TransportSettings(_Strict):
    """Where events travel from the collector to ``c360 stream run`` ([stream.transport])."""

    kind: Literal["memory", "redis", "nats"] = "memory"
    url: str = ""  # redis://host:6379/0 or nats://host:4222; empty: the local default of the kind
    stream: str = "c360-clickstream"  # Redis stream key, NATS stream name, in-process queue name
    subject: str = "c360.clickstream"  # NATS subject the stream captures
    group: str = "c360-stream"  # Redis consumer group, NATS durable consumer
    consumer: str = "runner-1"  # Redis consumer name: a restart under the same name resumes its pending
    batch_events: int = Field(8_192, ge=1)  # events a consume call returns at most
    message_events: int = Field(1_000, ge=1)  # events per broker message (one Arrow IPC payload)
    buffer_events: int = Field(100_000, ge=1)  # events a publisher holds while the broker is away
    backoff_initial_s: float = Field(0.1, gt=0)
    backoff_max_s: float = Field(5.0, gt=0)
    ack_wait_s: float = Field(30.0, gt=0)  # unacknowledged this long: delivered again (NATS, Redis claim)
    max_messages: int = Field(1_000_000, ge=1)  # broker retention, in messages (oldest trimmed first)


class RawSinkSettings(_Strict):
    """How often ``c360 stream run`` lands accepted events in ``raw.clickstream`` ([stream.raw_sink])."""

    enabled: bool = True
    every_seconds: float = Field(10.0, gt=0)
    every_events: int = Field(50_000, ge=1)
    source: str = "clickstream"


class StreamSettings(_Strict):
    detectors: list[str] = Field(default_factory=lambda: list(DETECTORS))  # the ones to run
    allowed_lateness_s: float = 30.0
    cooldown_s: float = 600.0
    reference: RateRule = Field(default_factory=lambda: RateRule(threshold=5, high=10))
    ip_flood: RateRule = Field(
        default_factory=lambda: RateRule(key="ip", window_s=30.0, slide_s=10.0, threshold=25)
    )
    session_flood: RateRule = Field(
        default_factory=lambda: RateRule(key="user_session", window_s=30.0, slide_s=10.0, threshold=25)
    )
    distributed: DistributedFlood = Field(default_factory=DistributedFlood)
    bots: BotSignatures = Field(default_factory=BotSignatures)
    transport: TransportSettings = Field(default_factory=TransportSettings)
    raw_sink: RawSinkSettings = Field(default_factory=RawSinkSettings)

    @field_validator("detectors")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        unknown = sorted(set(names) - set(DETECTORS))
        if unknown:
            raise ValueError(f"unknown detectors {unknown}: choose among {list(DETECTORS)}")
        return names

    def key_types(self) -> set[str]:
        """The key types the enabled detectors group by (the processor hashes only these)."""
        on, d, b = set(self.detectors), self.distributed, self.bots
        used = {
            "reference": [self.reference.key],
            "ip_flood": [self.ip_flood.key],
            "session_flood": [self.session_flood.key],
            "distributed_flood": [*d.targets, "ip"],
            "bot_agent": b.keys,
            "bot_regular": b.keys,
            "bot_no_dwell": [b.dwell_key],
            "bot_cart_churn": [b.churn_key],
        }
        return {key for name, keys in used.items() if name in on for key in keys} - {"global"}

    @property
    def horizon_s(self) -> float:
        """How far behind the watermark events must stay buffered for every window to see them."""
        d, b = self.distributed, self.bots
        return max(
            self.reference.window_s, self.ip_flood.window_s, self.session_flood.window_s, d.window_s,
            d.global_window_s, b.agent_window_s, b.dwell_window_s, b.churn_window_s,
            b.regular_min_events * b.regular_max_mean_s,
        )  # fmt: skip
