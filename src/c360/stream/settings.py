"""Detector thresholds, with defaults tuned on the simulator's attacks (seeds 42 and 7)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

DETECTORS = (
    "reference", "ip_flood", "session_flood", "distributed_flood", "global_spike",
    "bot_agent", "bot_regular", "bot_no_dwell", "bot_cart_churn",
)  # fmt: skip


class RateRule(BaseModel):
    """More than ``threshold`` events per key in a window of ``window_s`` seconds starting every
    ``slide_s`` seconds (tumbling when equal); ``high`` raises the severity to high."""

    key: str = "user_id"
    window_s: float = 10.0
    slide_s: float = 10.0
    threshold: int = 5
    high: int | None = None


class DistributedFlood(BaseModel):
    """Many distinct IPs on one target in a window, and global rate spikes."""

    targets: list[str] = Field(default_factory=lambda: ["product_id"])
    window_s: float = 300.0
    slide_s: float = 60.0
    distinct_ips: int = 20
    global_window_s: float = 60.0
    global_factor: float = 10.0  # a global window above factor × the running baseline is a spike
    global_min_count: int = 200
    global_baseline_half_life_windows: float = 60.0


class BotSignatures(BaseModel):
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


class StreamSettings(BaseModel):
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
