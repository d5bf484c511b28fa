"""The detectors: each reads the processor's buffer of recent events and returns the windows (or
event runs) that crossed its threshold during the current micro-batch, as arrays.

* ``reference`` — the reference system's rule: more than 5 events per user_id in a 10-second
  tumbling window (severity high above 10); ``ip_flood`` and ``session_flood`` are the same rule
  on sliding windows keyed by ip and by user_session.
* ``distributed_flood`` — more than N distinct IPs on one product (or category) in a window;
  ``global_spike`` — the whole stream's count in a window far above its running baseline.
* ``bot_agent`` (known crawler or headless user agents), ``bot_regular`` (inter-event gaps with a
  tiny coefficient of variation), ``bot_no_dwell`` (views followed by another view within a
  second), ``bot_cart_churn`` (carts and removals without a purchase).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from c360.stream.events import CART, PURCHASE, REMOVE, US_PER_SECOND, VIEW
from c360.stream.settings import BotSignatures, DistributedFlood, RateRule, StreamSettings
from c360.stream.windows import Window, assign, crossings, successive_gaps


@dataclass
class Frame:
    """Buffered events (the current batch last), as arrays; ``keys`` hold 64-bit hashes per key type,
    ``missing`` marks events without a value for that key type."""

    time_us: np.ndarray
    kind: np.ndarray
    seq: np.ndarray
    clock_us: np.ndarray  # the stream's max event time when the event arrived
    bot_agent: np.ndarray
    keys: dict[str, np.ndarray]
    missing: dict[str, np.ndarray]
    is_new: np.ndarray

    @property
    def size(self) -> int:
        return self.time_us.size


@dataclass
class Candidates:
    """Alerts one detector raised in one batch, before the cooldown: rows index the frame."""

    detector: str
    key_type: str
    severity: str
    row: np.ndarray
    window_start_us: np.ndarray
    window_end_us: np.ndarray
    first_time_us: np.ndarray
    count: np.ndarray


def _us(seconds: float) -> int:
    return round(seconds * US_PER_SECOND)


def _window(size_s: float, slide_s: float) -> Window:
    return Window(_us(size_s), _us(slide_s))


def _count_rule(
    frame: Frame,
    detector: str,
    key_type: str,
    subset: np.ndarray,
    window: Window,
    threshold: int,
    severity: str,
    distinct: np.ndarray | None = None,
) -> Candidates:
    rows = np.flatnonzero(subset)
    c = crossings(
        frame.keys[key_type][rows],
        frame.time_us[rows],
        frame.seq[rows],
        frame.is_new[rows],
        window,
        threshold,
        None if distinct is None else distinct[rows],
    )
    return Candidates(
        detector,
        key_type,
        severity,
        rows[c.row],
        c.window_start_us,
        c.window_end_us,
        c.first_time_us,
        c.count,
    )


def rate_rule(frame: Frame, detector: str, rule: RateRule) -> list[Candidates]:
    subset = ~frame.missing[rule.key]
    window = _window(rule.window_s, rule.slide_s)
    found = [
        _count_rule(
            frame, detector, rule.key, subset, window, rule.threshold, "medium" if rule.high else "high"
        )
    ]
    if rule.high:
        found.append(_count_rule(frame, detector, rule.key, subset, window, rule.high, "high"))
    return found


def distributed_flood(frame: Frame, settings: DistributedFlood) -> list[Candidates]:
    window = _window(settings.window_s, settings.slide_s)
    ip = frame.keys["ip"]
    return [
        _count_rule(
            frame,
            "distributed_flood",
            target,
            ~frame.missing[target] & ~frame.missing["ip"],
            window,
            settings.distinct_ips,
            "high",
            distinct=ip,
        )
        for target in settings.targets
    ]


def global_spike(frame: Frame, settings: DistributedFlood, threshold: int) -> Candidates:
    window = _window(settings.global_window_s, settings.global_window_s)
    return _count_rule(
        frame, "global_spike", "global", np.ones(frame.size, dtype=bool), window, threshold, "high"
    )


def bot_agent(frame: Frame, key_type: str, settings: BotSignatures) -> Candidates:
    """The first event with a crawler's or headless browser's agent per key and window."""
    window = _window(settings.agent_window_s, settings.agent_window_s)
    subset = frame.bot_agent & ~frame.missing[key_type]
    return _count_rule(frame, "bot_agent", key_type, subset, window, 0, "medium")


def bot_regular(frame: Frame, key_type: str, settings: BotSignatures) -> Candidates:
    """Runs of ``regular_min_events`` events of one key with near-constant gaps."""
    rows = np.flatnonzero(~frame.missing[key_type])
    order, gap_us, first = successive_gaps(frame.keys[key_type][rows], frame.time_us[rows], frame.seq[rows])
    k = settings.regular_min_events - 1  # gaps per run
    n = order.size
    empty = np.zeros(0, dtype=np.int64)
    if n <= k:
        return Candidates("bot_regular", key_type, "medium", empty, empty, empty, empty, empty)
    cap = settings.regular_max_mean_s * 10
    gap = np.minimum(np.where(first, 0, gap_us) / US_PER_SECOND, cap)
    run_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))  # each key's first position
    s1 = np.concatenate([[0.0], np.cumsum(gap)])
    s2 = np.concatenate([[0.0], np.cumsum(gap * gap)])
    end = np.arange(k, n)  # the run's last event; its gaps are at end-k+1 .. end
    complete = run_start[end] <= end - k
    total = s1[end + 1] - s1[end - k + 1]
    squares = s2[end + 1] - s2[end - k + 1]
    mean = total / k
    std = np.sqrt(np.maximum(squares / k - mean * mean, 0.0))
    regular = (
        complete
        & (mean >= settings.regular_min_mean_s)
        & (mean <= settings.regular_max_mean_s)
        & (std <= settings.regular_max_cv * np.maximum(mean, 1e-9))
    )
    at = end[regular]
    hit = rows[order[at]]
    fresh = frame.is_new[hit]
    at, hit = at[fresh], hit[fresh]
    start = frame.time_us[rows[order[at - k]]]
    count = np.full(at.size, k + 1)
    return Candidates("bot_regular", key_type, "medium", hit, start, frame.time_us[hit], start, count)


def bot_no_dwell(frame: Frame, settings: BotSignatures) -> Candidates:
    key_type = settings.dwell_key
    views = np.flatnonzero((frame.kind == VIEW) & ~frame.missing[key_type])
    order, gap_us, _ = successive_gaps(frame.keys[key_type][views], frame.time_us[views], frame.seq[views])
    quick = np.zeros(frame.size, dtype=bool)
    quick[views[order[(gap_us >= 0) & (gap_us < _us(settings.dwell_max_s))]]] = True
    window = _window(settings.dwell_window_s, settings.dwell_window_s)
    return _count_rule(frame, "bot_no_dwell", key_type, quick, window, settings.dwell_threshold, "medium")


def bot_cart_churn(frame: Frame, settings: BotSignatures) -> Candidates:
    key_type = settings.churn_key
    present = ~frame.missing[key_type]
    churn = present & ((frame.kind == CART) | (frame.kind == REMOVE))
    window = _window(settings.churn_window_s, settings.churn_slide_s)
    found = _count_rule(frame, "bot_cart_churn", key_type, churn, window, settings.churn_threshold, "medium")
    bought = np.flatnonzero(present & (frame.kind == PURCHASE))
    if bought.size and found.row.size:
        index, number = assign(frame.time_us[bought], window)
        paid = _pair(frame.keys[key_type][bought[index]], number)
        keep = ~np.isin(
            _pair(frame.keys[key_type][found.row], found.window_start_us // window.slide_us), paid
        )
        found = Candidates(
            found.detector, key_type, found.severity, found.row[keep], found.window_start_us[keep],
            found.window_end_us[keep], found.first_time_us[keep], found.count[keep],
        )  # fmt: skip
    return found


def _pair(key: np.ndarray, number: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return key ^ (number.astype(np.int64) * np.int64(-7046029254386353131))


def run_all(frame: Frame, settings: StreamSettings, global_threshold: int) -> list[Candidates]:
    """The enabled detectors over the frame, in a fixed order."""
    on = set(settings.detectors)
    found: list[Candidates] = []
    if "reference" in on:
        found += rate_rule(frame, "reference", settings.reference)
    if "ip_flood" in on:
        found += rate_rule(frame, "ip_flood", settings.ip_flood)
    if "session_flood" in on:
        found += rate_rule(frame, "session_flood", settings.session_flood)
    if "distributed_flood" in on:
        found += distributed_flood(frame, settings.distributed)
    if "global_spike" in on:
        found.append(global_spike(frame, settings.distributed, global_threshold))
    for key_type in settings.bots.keys:
        if "bot_agent" in on:
            found.append(bot_agent(frame, key_type, settings.bots))
        if "bot_regular" in on:
            found.append(bot_regular(frame, key_type, settings.bots))
    if "bot_no_dwell" in on:
        found.append(bot_no_dwell(frame, settings.bots))
    if "bot_cart_churn" in on:
        found.append(bot_cart_churn(frame, settings.bots))
    return found
