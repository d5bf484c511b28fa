"""The event-time processor: micro-batches in, deduplicated alerts out.

Per event (computed for the whole batch at once): the watermark it meets is the largest event time
seen before it minus the allowed lateness; an event older than that is late, counted and dropped.
Accepted events join a buffer that keeps what any window still open can need (``horizon``); the
detectors read the buffer and report only what the current batch's events made cross a threshold,
so an out-of-order event inside the lateness still lands in its own window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.stream.detectors import Candidates, Frame, run_all
from c360.stream.events import US_PER_SECOND, Validated, hash_text
from c360.stream.settings import StreamSettings

TEXT_KEYS = ("user_id", "user_session", "ip", "product_id", "category_id")
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}
_EMPTY_HASH = int(hash_text(pa.array([""]))[0])
_NO_TIME = np.iinfo(np.int64).min // 2


@dataclass(frozen=True)
class Alert:
    detector: str
    key_type: str
    key_value: str
    window_start: datetime
    window_end: datetime
    first_event_time: datetime
    detected_at_event_time: datetime
    severity: str
    count: int

    def as_dict(self) -> dict[str, str | int]:
        """JSON-ready: times as ISO 8601 text."""
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in asdict(self).items()
        }


@dataclass
class Counts:
    events: int = 0  # valid events given to the processor
    accepted: int = 0
    late: int = 0  # older than the watermark on arrival: dropped
    out_of_order: int = 0  # older than an event seen before, but within the lateness: kept
    candidates: int = 0  # alerts before the cooldown
    suppressed: int = 0  # alerts the cooldown swallowed
    alerts: int = 0


def _time(us: int) -> datetime:
    return datetime.fromtimestamp(us / US_PER_SECOND, UTC)


@dataclass
class StreamProcessor:
    settings: StreamSettings = field(default_factory=StreamSettings)
    counts: Counts = field(default_factory=Counts)

    def __post_init__(self) -> None:
        self._max_us = _NO_TIME
        self._next_seq = 0
        self._frame: Frame | None = None
        self._text: dict[str, pa.Array] = {}
        self._last: dict[tuple[str, str, str], tuple[int, int]] = {}  # (detected_us, severity rank)
        self._baseline = 0.0
        self._baseline_window: int | None = None  # last global window folded into the baseline
        self._pattern = self.settings.bots.agent_pattern
        self._key_types = [k for k in TEXT_KEYS if k in self.settings.key_types()]

    @property
    def watermark_us(self) -> int:
        return self._max_us - int(self.settings.allowed_lateness_s * US_PER_SECOND)

    def process(self, batch: Validated) -> list[Alert]:
        """Feed one micro-batch (events in arrival order); returns the alerts it raised."""
        n = batch.size
        self.counts.events += n
        if n == 0:
            return []
        lateness = int(self.settings.allowed_lateness_s * US_PER_SECOND)
        running = np.maximum.accumulate(np.concatenate([[self._max_us], batch.time_us]))
        seen_before = running[:-1]
        late = batch.time_us < seen_before - lateness
        self.counts.late += int(late.sum())
        self.counts.out_of_order += int(((batch.time_us < seen_before) & ~late).sum())
        self._max_us = int(running[-1])
        keep = ~late
        if not keep.any():
            return []
        table = batch.table.filter(pa.array(keep)) if late.any() else batch.table
        m = int(keep.sum())
        self.counts.accepted += m
        seq = np.arange(self._next_seq, self._next_seq + m, dtype=np.int64)
        first_seq = self._next_seq
        self._next_seq += m
        keys, missing, text = {}, {}, {}
        for name in self._key_types:
            column = table[name].combine_chunks()
            keys[name] = hash_text(column)
            missing[name] = keys[name] == _EMPTY_HASH
            text[name] = column
        keys["global"] = np.zeros(m, dtype=np.int64)
        missing["global"] = np.zeros(m, dtype=bool)
        if "bot_agent" in self.settings.detectors:
            agents = pc.dictionary_encode(table["user_agent"].combine_chunks())
            is_bot = pc.match_substring_regex(agents.dictionary, self._pattern).to_numpy(zero_copy_only=False)
            bot_agent = (
                is_bot[agents.indices.to_numpy(zero_copy_only=False)] if is_bot.size else np.zeros(m, bool)
            )
        else:
            bot_agent = np.zeros(m, dtype=bool)
        new = Frame(
            time_us=batch.time_us[keep],
            kind=batch.kind[keep],
            seq=seq,
            clock_us=running[1:][keep],
            bot_agent=bot_agent,
            keys=keys,
            missing=missing,
            is_new=np.ones(m, dtype=bool),
        )
        frame = self._append(new, text)
        frame.is_new = frame.seq >= first_seq
        found = run_all(frame, self.settings, self._global_threshold(frame))
        alerts = self._dedup(frame, found)
        self._prune(frame)
        return alerts

    def _append(self, new: Frame, text: dict[str, pa.Array]) -> Frame:
        old = self._frame
        if old is None or old.size == 0:
            self._frame, self._text = new, text
            return new
        self._frame = Frame(
            time_us=np.concatenate([old.time_us, new.time_us]),
            kind=np.concatenate([old.kind, new.kind]),
            seq=np.concatenate([old.seq, new.seq]),
            clock_us=np.concatenate([old.clock_us, new.clock_us]),
            bot_agent=np.concatenate([old.bot_agent, new.bot_agent]),
            keys={k: np.concatenate([old.keys[k], new.keys[k]]) for k in new.keys},
            missing={k: np.concatenate([old.missing[k], new.missing[k]]) for k in new.missing},
            is_new=np.concatenate([old.is_new, new.is_new]),
        )
        self._text = {k: pa.concat_arrays([self._text[k], text[k]]) for k in text}
        return self._frame

    def _prune(self, frame: Frame) -> None:
        oldest = self.watermark_us - int(self.settings.horizon_s * US_PER_SECOND)
        keep = frame.time_us >= oldest
        if keep.all():
            return
        index = np.flatnonzero(keep)
        self._frame = Frame(
            time_us=frame.time_us[index],
            kind=frame.kind[index],
            seq=frame.seq[index],
            clock_us=frame.clock_us[index],
            bot_agent=frame.bot_agent[index],
            keys={k: v[index] for k, v in frame.keys.items()},
            missing={k: v[index] for k, v in frame.missing.items()},
            is_new=frame.is_new[index],
        )
        take = pa.array(index)
        self._text = {k: v.take(take) for k, v in self._text.items()}

    def _global_threshold(self, frame: Frame) -> int:
        """Fold the global windows the watermark has closed into an exponentially weighted baseline."""
        d = self.settings.distributed
        size = int(d.global_window_s * US_PER_SECOND)
        closed_upto = self.watermark_us // size  # windows below this number are closed
        if self._baseline_window is None:
            self._baseline_window = int(frame.time_us.min() // size) - 1
        if closed_upto - 1 > self._baseline_window:
            number = frame.time_us // size
            chosen = (number > self._baseline_window) & (number < closed_upto)
            windows, counts = np.unique(number[chosen], return_counts=True)
            keep = 0.5 ** (1 / d.global_baseline_half_life_windows)
            previous = self._baseline_window
            for w, c in zip(windows.tolist(), counts.tolist(), strict=True):
                self._baseline *= keep ** (w - previous)  # empty windows in between decay it
                self._baseline += (1 - keep) * c
                previous = w
            self._baseline *= keep ** (closed_upto - 1 - previous)
            self._baseline_window = int(closed_upto - 1)
        return max(d.global_min_count, int(d.global_factor * self._baseline))

    def _dedup(self, frame: Frame, found: list[Candidates]) -> list[Alert]:
        """Apply the cooldown per (detector, key) in arrival order; build alerts only for survivors."""
        found = [c for c in found if c.row.size]
        if not found:
            return []
        cooldown = int(self.settings.cooldown_s * US_PER_SECOND)
        which = np.concatenate([np.full(c.row.size, i) for i, c in enumerate(found)])
        position = np.concatenate([np.arange(c.row.size) for c in found])
        rows = np.concatenate([c.row for c in found])
        order = np.lexsort((which, frame.seq[rows]))
        clocks = frame.clock_us[rows].tolist()
        hashes = np.concatenate([frame.keys[c.key_type][c.row] for c in found]).tolist()
        self.counts.candidates += rows.size
        kept = []
        for k in order.tolist():
            c = found[which[k]]
            key = (c.detector, c.key_type, hashes[k])
            rank = SEVERITY_RANK[c.severity]
            last = self._last.get(key)
            if last is not None and clocks[k] - last[0] < cooldown and rank <= last[1]:
                self.counts.suppressed += 1
                continue
            self._last[key] = (clocks[k], rank)
            kept.append(self._alert(c, int(position[k]), clocks[k]))
        self.counts.alerts += len(kept)
        if len(self._last) > 100_000:  # forget keys whose cooldown is over
            self._last = {k: v for k, v in self._last.items() if self._max_us - v[0] < cooldown}
        return kept

    def _alert(self, c: Candidates, j: int, clock_us: int) -> Alert:
        texts = self._text.get(c.key_type)
        return Alert(
            detector=c.detector,
            key_type=c.key_type,
            key_value="*" if texts is None else texts[int(c.row[j])].as_py(),
            window_start=_time(int(c.window_start_us[j])),
            window_end=_time(int(c.window_end_us[j])),
            first_event_time=_time(int(c.first_time_us[j])),
            detected_at_event_time=_time(clock_us),
            severity=c.severity,
            count=int(c.count[j]),
        )
