"""`c360 run`: steps in order, recorded in ops.runs; a failure stops the run; one run at a time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from c360.config import load_project
from c360.errors import C360Error
from c360.lake.lock import writer_lock
from c360.pipeline import list_runs, parse_interval, run_pipeline
from tests.projects import SAMPLES, write_project

CONFIG = f"""
[sources.retail_orders]
kind = "delimited"
path = "{SAMPLES}/retail/*.csv"
"""


def test_a_run_records_its_steps(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, CONFIG))
    first = run_pipeline(project)
    assert first.status == "succeeded"
    assert [(s.step, s.rows) for s in first.steps][:2] == [("ingest", 9_994), ("stage", 9_994)]
    assert "817 quarantined" in first.steps[1].detail
    second = run_pipeline(project)
    assert [s.rows for s in second.steps][:2] == [0, 0]
    runs = list_runs(project).to_pylist()
    assert [r["run_id"] for r in runs] == [second.run_id, first.run_id]
    assert runs[1]["status"] == "succeeded" and runs[1]["rows"] >= 19_988
    assert runs[1]["steps"].startswith("ingest:succeeded → stage:succeeded")


def test_a_failed_step_stops_the_run_and_the_next_resumes(tmp_path: Path) -> None:
    write_project(tmp_path, CONFIG.replace("retail/*.csv", "retail/missing*.csv"))
    project = load_project(tmp_path)
    failed = run_pipeline(project)
    assert failed.status == "failed" and [s.step for s in failed.steps] == ["ingest"]
    assert "no file matches" in str(failed.error)
    write_project(tmp_path, CONFIG)
    resumed = run_pipeline(load_project(tmp_path))
    assert resumed.status == "succeeded" and resumed.steps[0].rows == 9_994
    statuses = [(r["status"], r["error"] is not None) for r in list_runs(load_project(tmp_path)).to_pylist()]
    assert statuses == [("succeeded", False), ("failed", True)]


def test_a_second_run_refuses_while_one_holds_the_lake(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, CONFIG))
    with writer_lock(project.lake_dir, "c360 run 42"), pytest.raises(C360Error, match="busy: c360 run 42"):
        run_pipeline(project)


def test_run_every_keeps_running_one_at_a_time(tmp_path: Path) -> None:
    write_project(tmp_path, CONFIG)
    process = subprocess.Popen(
        [sys.executable, "-m", "c360", "run", "--every", "1s", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if (tmp_path / "lake").exists():
            try:
                if len(list_runs(load_project(tmp_path)).to_pylist()) >= 3:
                    break
            except C360Error:
                continue
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    runs = list_runs(load_project(tmp_path)).to_pylist()
    assert len(runs) >= 3, err
    assert {r["status"] for r in runs[1:]} == {"succeeded"}
    assert "stopped" in out


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("1h30m", 5400)])
def test_intervals(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1x", "h1"])
def test_bad_intervals(text: str) -> None:
    with pytest.raises(C360Error, match="cannot read the interval"):
        parse_interval(text)


def test_run_cli_exit_codes(tmp_path: Path) -> None:
    write_project(tmp_path, CONFIG.replace("retail/*.csv", "retail/missing*.csv"))
    result = subprocess.run(
        [sys.executable, "-m", "c360", "run", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 1 and "failed" in result.stdout and "no file matches" in result.stderr
