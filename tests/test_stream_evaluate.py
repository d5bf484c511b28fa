"""End to end: the simulator's clickstream replayed through the processor, scored against its truth."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from c360.simulate import generate
from c360.stream.evaluate import evaluate_simulation
from c360.stream.replay import replay
from tests.test_stream import COLUMNS, event


@pytest.mark.parametrize("seed", [42, 7])
def test_simulated_attacks_are_caught_with_high_precision_and_recall(tmp_path: Path, seed: int) -> None:
    generate(2000, seed, tmp_path)
    report = evaluate_simulation(tmp_path)
    assert report["episodes"] == 6 and report["missed"] == []
    assert report["recall"] >= 0.99
    assert report["precision"] >= 0.99, report["false_alerts_by_detector"]
    assert report["median_seconds_to_detect"] <= 10
    assert report["late_dropped"] > 0  # the simulator's late arrivals are seen and dropped
    assert report["rejected"]  # and its broken lines rejected with reasons


def test_replay_paces_event_time_by_the_speed_factor(tmp_path: Path) -> None:
    rows = [event(s, user=7) for s in (0, 1, 2)]
    path = tmp_path / "events.csv"
    lines = [",".join(COLUMNS)] + [",".join(f'"{r[c]}"' for c in COLUMNS) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    result = replay(path, speed=4.0)
    assert time.perf_counter() - started >= 0.45  # 2 s of event time at 4×
    assert result.counts.events == 3
    fast = replay(path)
    assert fast.counts.accepted == 3 and fast.alerts == []
