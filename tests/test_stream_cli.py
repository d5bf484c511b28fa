"""`c360 stream evaluate` and `c360 stream replay` on a simulated clickstream."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from c360.simulate import generate


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stream") / "sim"
    generate(3_000, 42, out)
    return out


def c360(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "c360", *args], capture_output=True, text=True)


def test_evaluate_prints_the_scores_as_json(sim: Path) -> None:
    result = c360("stream", "evaluate", "--sim", str(sim), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["recall"] == 1.0 and report["precision"] == 1.0
    assert report["episodes"] == report["detected"] > 0
    assert 0 <= report["median_seconds_to_detect"] < 5
    assert report["incident_precision"] == report["lenient_precision"] == 1.0


def test_replay_reports_alerts_and_rejects(sim: Path) -> None:
    result = c360("stream", "replay", str(sim / "clickstream"))
    assert result.returncode == 0, result.stderr
    assert "alerts" in result.stdout and "events/s" in result.stdout
    assert "rejected events: malformed line" in result.stdout


def test_evaluate_needs_a_simulation(tmp_path: Path) -> None:
    result = c360("stream", "evaluate", "--sim", str(tmp_path))
    assert result.returncode == 1 and "attacks.csv not found" in result.stderr


def test_replay_sends_alerts_to_a_file_and_the_lake_once(sim: Path, tmp_path: Path) -> None:
    from c360.config import load_project
    from c360.lake.catalog import open_catalog
    from c360.lake.query import run_query

    assert c360("init", str(tmp_path / "p")).returncode == 0
    alerts_file = tmp_path / "alerts.jsonl"
    args = ["stream", "replay", str(sim / "clickstream"), "--store", "--dir", str(tmp_path / "p")]
    first = c360(*args, "--alerts-file", str(alerts_file))
    assert first.returncode == 0, first.stderr
    lines = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    stored = run_query(
        open_catalog(load_project(tmp_path / "p")), "SELECT count(*) AS n FROM analytics.stream_alerts"
    ).to_pylist()
    assert stored == [{"n": len(lines)}] and len(lines) > 0
    assert {"detector", "key_type", "key_value", "severity"} <= set(lines[0])
    again = c360(*args)
    assert f"stored 0 new alerts in analytics.stream_alerts ({len(lines):,} already stored)" in again.stdout
