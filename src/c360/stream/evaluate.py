"""Score alerts against the simulator's ground truth (``_truth/attacks.csv``).

* An episode is **detected** when an alert on its own key (for a distributed flood: its target
  product) overlaps its [start, end].
* An alert is **correct** when it overlaps an episode and is keyed by something that episode's
  events carry: its key, or the user_id / user_session / ip / product_id / category_id of the
  episode's events (a flooding account's session, a crawler's account). A ``global`` spike is
  correct when it overlaps any episode.
* precision = correct alerts / alerts (after the cooldown); recall = detected / episodes;
  median seconds to detect = median over detected episodes of (first detecting alert's
  ``detected_at_event_time`` − episode start).
"""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from c360.errors import C360Error
from c360.stream.events import TIME_FORMAT, read_events
from c360.stream.processor import TEXT_KEYS, Alert
from c360.stream.replay import clickstream_files, replay
from c360.stream.settings import StreamSettings


@dataclass
class Episode:
    episode_id: str
    kind: str
    key_type: str
    key_value: str
    start: datetime
    end: datetime
    carried: set[tuple[str, str]]  # (key_type, value) of the episode's events

    def overlaps(self, alert: Alert) -> bool:
        return alert.window_start <= self.end and alert.window_end >= self.start


def _parse(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def load_episodes(truth: Path, events: pa.Table | None = None) -> list[Episode]:
    """The labelled episodes; with the events, also what keys each episode's events carry."""
    with open(truth, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    episodes = []
    for row in rows:
        start, end = _parse(row["start"]), _parse(row["end"])
        carried = {(row["key_type"], row["key_value"])}
        if events is not None:
            t = events["event_time"]
            mask = pc.and_(
                pc.equal(events[row["key_type"]], row["key_value"]),
                pc.and_(pc.greater_equal(t, pa.scalar(start)), pc.less_equal(t, pa.scalar(end))),
            )
            mine = events.filter(mask)
            for name in TEXT_KEYS:
                carried.update((name, v) for v in pc.unique(mine[name]).to_pylist() if v)
        episodes.append(
            Episode(row["episode_id"], row["kind"], row["key_type"], row["key_value"], start, end, carried)
        )
    return episodes


def score(alerts: list[Alert], episodes: list[Episode]) -> dict:
    correct = strict = 0
    wrong: Counter = Counter()
    for alert in alerts:
        key = (alert.key_type, alert.key_value)
        during = [e for e in episodes if e.overlaps(alert)]
        if any(alert.key_type == "global" or key in e.carried for e in during):
            correct += 1
        else:
            wrong[alert.detector] += 1
        strict += any(alert.key_type in ("global", e.key_type) and key[1] == e.key_value for e in during)
    delays = []
    missed = []
    for e in episodes:
        hits = [
            a.detected_at_event_time
            for a in alerts
            if a.key_type == e.key_type and a.key_value == e.key_value and e.overlaps(a)
        ]
        if hits:
            delays.append((min(hits) - e.start).total_seconds())
        else:
            missed.append(f"{e.episode_id}:{e.kind}")
    return {
        "precision": correct / len(alerts) if alerts else 1.0,
        "recall": len(delays) / len(episodes) if episodes else 1.0,
        "median_seconds_to_detect": statistics.median(delays) if delays else None,
        "alerts": len(alerts),
        "correct_alerts": correct,
        # alerts on an episode's own key (or global) only, not on the keys its events carry
        "strict_precision": strict / len(alerts) if alerts else 1.0,
        "episodes": len(episodes),
        "detected": len(delays),
        "missed": missed,
        "false_alerts_by_detector": dict(wrong),
        "alerts_by_detector": dict(Counter(a.detector for a in alerts)),
    }


def _all_events(files: list[Path]) -> pa.Table:
    tables = []
    for batch in read_events(files):
        table = batch.table.select(list(TEXT_KEYS))
        tables.append(
            table.append_column("event_time", pa.array(batch.time_us).cast(pa.timestamp("us", "UTC")))
        )
    return pa.concat_tables(tables)


def evaluate_simulation(sim_dir: Path, settings: StreamSettings | None = None) -> dict:
    """Replay ``sim_dir``'s clickstream as fast as possible and score it against its ground truth."""
    sim_dir = Path(sim_dir)
    truth = sim_dir / "_truth" / "attacks.csv"
    if not truth.exists():
        raise C360Error(f"{truth} not found", hint="evaluate needs a directory written by `c360 simulate`")
    result = replay(sim_dir / "clickstream", speed=0.0, settings=settings)
    episodes = load_episodes(truth, _all_events(clickstream_files(sim_dir / "clickstream")))
    report = score(result.alerts, episodes)
    counts = result.counts
    report.update(
        events=counts.events,
        late_dropped=counts.late,
        out_of_order=counts.out_of_order,
        rejected=dict(result.rejects.counts),
        suppressed_by_cooldown=counts.suppressed,
        events_per_second=round(result.events_per_second),
    )
    return report
