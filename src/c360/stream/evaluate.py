"""Score alerts against the simulator's ground truth (``_truth/attacks.csv``).

* An episode is **detected** when an alert on its own key (for a distributed flood: its target
  product) overlaps its [start, end].
* ``precision`` (strict, per alert): an alert is correct when it overlaps an episode and is keyed
  by that episode's own key (the attacking IP, account or session, the flooded product). An
  alert on another key the episode's events carry (the flooding account's session, a crawler's
  account, the accounts behind a flooding IP) counts as false: naming a key that is not the
  attacker's is what blocks a bystander. A ``global`` spike is correct when it overlaps any
  episode (it names no key).
* ``lenient_precision``: also correct when keyed by anything the episode's events carry (its
  sessions, accounts, IPs, products).
* ``incident_precision``: alerts on one key less than ``INCIDENT_GAP_S`` apart form one incident
  (what an analyst looks at: the several detectors and severities of one anomaly); an incident
  is correct when one of its alerts is (strictly).
* recall = detected / episodes; median seconds to detect = median over detected episodes of
  (first detecting alert's ``detected_at_event_time`` − episode start).
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

INCIDENT_GAP_S = 600.0


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


def incidents(alerts: list[Alert], gap_s: float = INCIDENT_GAP_S) -> list[list[Alert]]:
    """Alerts on one key, each detected less than ``gap_s`` after the previous one, as one incident."""
    ordered = sorted(alerts, key=lambda a: (a.key_type, a.key_value, a.detected_at_event_time))
    groups: list[list[Alert]] = []
    for alert in ordered:
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and (last.key_type, last.key_value) == (alert.key_type, alert.key_value)
            and (alert.detected_at_event_time - last.detected_at_event_time).total_seconds() < gap_s
        ):
            groups[-1].append(alert)
        else:
            groups.append([alert])
    return groups


def score(alerts: list[Alert], episodes: list[Episode]) -> dict:
    lenient = 0
    right: set[int] = set()  # ids of strictly correct alerts
    wrong: Counter = Counter()
    for alert in alerts:
        key = (alert.key_type, alert.key_value)
        during = [e for e in episodes if e.overlaps(alert)]
        if any(alert.key_type == "global" or key == (e.key_type, e.key_value) for e in during):
            right.add(id(alert))
        else:
            wrong[alert.detector] += 1
        lenient += any(alert.key_type == "global" or key in e.carried for e in during)
    grouped = incidents(alerts)
    correct_incidents = sum(any(id(a) in right for a in group) for group in grouped)
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
        "precision": len(right) / len(alerts) if alerts else 1.0,
        "recall": len(delays) / len(episodes) if episodes else 1.0,
        "median_seconds_to_detect": statistics.median(delays) if delays else None,
        "incident_precision": correct_incidents / len(grouped) if grouped else 1.0,
        "lenient_precision": lenient / len(alerts) if alerts else 1.0,
        "alerts": len(alerts),
        "correct_alerts": len(right),
        "incidents": len(grouped),
        "correct_incidents": correct_incidents,
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


def evaluate_simulation(
    sim_dir: Path, settings: StreamSettings | None = None, batch_events: int = 65_536
) -> dict:
    """Replay ``sim_dir``'s clickstream as fast as possible, in micro-batches of ``batch_events``,
    and score it against its ground truth."""
    sim_dir = Path(sim_dir)
    truth = sim_dir / "_truth" / "attacks.csv"
    if not truth.exists():
        raise C360Error(f"{truth} not found", hint="evaluate needs a directory written by `c360 simulate`")
    result = replay(sim_dir / "clickstream", speed=0.0, settings=settings, batch_events=batch_events)
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
