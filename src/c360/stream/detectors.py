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

Then ``attribute`` names the actor of each candidate, so one anomaly is not reported against
every key its events happen to carry (see its docstring).
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


def run_all(
    frame: Frame, settings: StreamSettings, global_threshold: int, attribute_actors: bool = True
) -> list[Candidates]:
    """The enabled detectors over the frame, in a fixed order, each candidate keyed by its actor."""
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
    return attribute(frame, found, settings) if attribute_actors else found


ACTOR_KEYS = ("ip", "user_id", "user_session")
# An account is narrowed to its session only when it used no other session this long before the
# alert's event either: a short window at the end of an account flood may hold one of its sessions.
SESSION_CONTEXT_S = 60.0
RATE_SPAN_S = 10.0  # the shortest span an IP's rate is measured over


class _Ranges:
    """Events of one key type sorted by (key, time): a key's events in a time window are one slice."""

    def __init__(self, frame: Frame, key_type: str) -> None:
        self.key = frame.keys[key_type]
        self.seq = frame.seq
        self.order = np.lexsort((frame.time_us, self.key))
        self.sorted_key = self.key[self.order]
        self.sorted_time = frame.time_us[self.order]

    def events(self, key: int, start_us: int, end_us: int, upto_seq: int) -> np.ndarray:
        """Frame rows of ``key`` with ``start_us <= time < end_us`` that arrived by ``upto_seq``."""
        lo, hi = np.searchsorted(self.sorted_key, key, "left"), np.searchsorted(self.sorted_key, key, "right")
        times = self.sorted_time[lo:hi]
        a, b = np.searchsorted(times, start_us, "left"), np.searchsorted(times, end_us, "left")
        rows = self.order[lo + a : lo + b]
        return rows[self.seq[rows] <= upto_seq]


def _last_arrived(frame: Frame, rows: np.ndarray) -> int:
    """The row that arrived last: re-keyed onto it, an alert keeps (nearly) its detection time."""
    return int(rows[np.argmax(frame.seq[rows])])


def attribute(frame: Frame, found: list[Candidates], settings: StreamSettings) -> list[Candidates]:
    """Re-key each candidate on an IP, account or session to the actor behind the anomaly.

    One flood or bot shows on every key its events carry: a flooding session also floods its
    account and its IP, a crawler's IP and account look alike, the accounts behind a flooding IP
    each look busy. Reporting all of them names bystanders (the other users of a shared or NAT
    address, a taken-over account's owner) as attackers. The actor of a candidate is, in order:

    1. a client that says it is a bot (``bot_agent`` fired, or most of the events carry a crawler
       or headless agent): its IP, or its account when it acts on carts (that needs an account);
    2. the IP, when no one account makes half of the IP's events; for a candidate on an account
       or a session, when the IP's other accounts alone send at more than ``ip_flood``'s rate
       (in the rule's window before the alert's event, up to ``ip_flood``'s) and the account
       makes less than half: one address behind many accounts;
    3. else the account (for a candidate on an IP: the account making most of its events; the
       rest of a shared address is not blamed), narrowed to its session when all the account's
       events in the window and the minute before are in that one session, from one IP (a
       session hopping addresses is driven by whoever holds the account, not by one browser).

    Only events that had arrived with the candidate's event are looked at, so the actor does not
    depend on how the stream is batched. The detector, window and count stay those of the rule
    that fired; the cooldown then applies per actor, so the keys of one anomaly collapse into one
    alert per detector.
    """
    present = [k for k in ACTOR_KEYS if k in frame.keys]
    if len(present) < len(ACTOR_KEYS) or not any(c.key_type in ACTOR_KEYS and c.row.size for c in found):
        return found
    ranges = {k: _Ranges(frame, k) for k in ACTOR_KEYS}
    ip_window = _us(settings.ip_flood.window_s)
    ip_threshold = settings.ip_flood.threshold
    context = _us(SESSION_CONTEXT_S)
    rate_span = _us(RATE_SPAN_S)

    def actor(detector: str, key_type: str, row: int, start: int, end: int) -> tuple[str, int]:
        """(key type, frame row carrying the actor's value) for one candidate."""
        seq = int(frame.seq[row])
        events = ranges[key_type].events(int(frame.keys[key_type][row]), start, end, seq)
        if events.size == 0:
            events = np.array([row])
        if detector == "bot_agent" or frame.bot_agent[events].mean() >= 0.5:
            carts = frame.kind[events] != VIEW
            if carts.any():
                return "user_id", _last_arrived(frame, events[carts])
            return "ip", row
        users, ips = frame.keys["user_id"], frame.keys["ip"]
        if key_type == "ip":
            values, counts = np.unique(users[events], return_counts=True)
            if counts.max() * 2 < events.size:
                return "ip", row  # no account makes half of it
            row = _last_arrived(frame, events[users[events] == values[np.argmax(counts)]])
        user, at = users[row], int(frame.time_us[row])
        if not frame.missing["ip"][row]:
            on_ip = ranges["ip"].events(int(ips[row]), at - min(end - start, ip_window), at + 1, seq)
            mine = int((users[on_ip] == user).sum())
            # the others' rate since the IP's first event in that span (a burst is a burst), at
            # least over RATE_SPAN_S so that a few events in a second are not a flood
            span = max(at - int(frame.time_us[on_ip].min()), rate_span) if on_ip.size else ip_window
            if (on_ip.size - mine) * ip_window > ip_threshold * span and mine * 2 < on_ip.size:
                return "ip", row
        if frame.missing["user_id"][row]:
            return key_type, row
        mine = ranges["user_id"].events(int(user), min(start, at - context), end, seq)
        known = mine[~frame.missing["user_session"][mine]]
        session = frame.keys["user_session"][row]
        if (
            not frame.missing["user_session"][row]
            and (frame.keys["user_session"][known] == session).all()
            and (ips[known] == ips[row]).all()
        ):
            return "user_session", row
        return "user_id", row

    regrouped: dict[tuple[str, str, str], list[tuple[int, int, int, int, int]]] = {}
    kept: list[Candidates] = []
    for c in found:
        if c.key_type not in ACTOR_KEYS or c.row.size == 0:
            kept.append(c)
            continue
        for j in range(c.row.size):
            start, end, row = int(c.window_start_us[j]), int(c.window_end_us[j]), int(c.row[j])
            key_type, actor_row = actor(c.detector, c.key_type, row, start, end)
            entry = (actor_row, start, end, int(c.first_time_us[j]), int(c.count[j]))
            regrouped.setdefault((c.detector, key_type, c.severity), []).append(entry)
    for (detector, key_type, severity), rows in regrouped.items():
        a = np.array(rows, dtype=np.int64)
        kept.append(Candidates(detector, key_type, severity, a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4]))
    return kept
