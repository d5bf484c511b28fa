"""`c360 ingest` killed part way and run again leaves the raw zone of one clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from c360.config import load_project
from c360.lake.catalog import open_catalog
from c360.lake.query import run_query
from c360.raw.ingest import ingest
from c360.raw.manifest import Manifest
from tests.projects import write_project

FILES = 24
ROWS_PER_FILE = 150_000
CONFIG = """
[sources.events]
kind = "delimited"
path = "data/*.csv"
header = true
"""


def make_files(directory: Path) -> None:
    directory.mkdir(parents=True)
    con = duckdb.connect()
    for i in range(FILES):
        con.execute(
            f"COPY (SELECT {i} * {ROWS_PER_FILE} + range AS id, 'user_' || (range % 997) AS name, "
            f"range * 0.25 AS amount FROM range({ROWS_PER_FILE})) TO '{directory}/part_{i:03}.csv' (HEADER)"
        )


def lake_state(directory: Path) -> dict:
    project = load_project(directory)
    catalog = open_catalog(project)

    def rows(sql: str) -> list[tuple]:
        return [tuple(r.values()) for r in run_query(catalog, sql).to_pylist()]

    batch_dirs = sorted(p.name for p in (project.lake_dir / "raw" / "events").iterdir())
    return {
        "manifest": sorted(rows("SELECT source, name, sha256, rows, bytes FROM raw.batches")),
        "table": rows("SELECT count(*), count(DISTINCT id), sum(CAST(amount AS DOUBLE)) FROM raw.events"),
        "batch_dirs": len(batch_dirs),
        "manifest_ids": sorted(r[0] for r in rows("SELECT batch_id FROM raw.batches")) == batch_dirs,
    }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("crash") / "data"
    make_files(data)
    return data


def project_with(data: Path, directory: Path) -> Path:
    write_project(directory, CONFIG)
    (directory / "data").symlink_to(data)
    return directory


def test_sigkill_part_way_then_rerun_equals_one_clean_run(data_dir: Path, tmp_path: Path) -> None:
    clean = project_with(data_dir, tmp_path / "clean")
    ingest(load_project(clean))
    expected = lake_state(clean)
    assert expected["table"] == [
        (
            FILES * ROWS_PER_FILE,
            FILES * ROWS_PER_FILE,
            pytest.approx(sum(range(ROWS_PER_FILE)) * 0.25 * FILES),
        )
    ]

    killed = project_with(data_dir, tmp_path / "killed")
    kills = 0
    for delay in (1.2, 0.7, 1.9, 1.1):
        process = subprocess.Popen(
            [sys.executable, "-m", "c360", "ingest", "--dir", str(killed)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "120"},
        )
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    assert kills >= 2, "the ingest finished before it could be killed; make the data larger"
    rerun = subprocess.run(
        [sys.executable, "-m", "c360", "ingest", "--dir", str(killed)], capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    assert lake_state(killed) == expected


def test_crash_between_data_commit_and_manifest_is_repaired(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = load_project(project_with(data_dir, tmp_path / "p"))
    original = Manifest.add

    def crash_on_second_batch(self: Manifest, records: list) -> None:
        if records and records[0].name == "part_001.csv":
            raise KeyboardInterrupt("simulated crash after the data commit")
        original(self, records)

    monkeypatch.setattr(Manifest, "add", crash_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        ingest(project)
    monkeypatch.setattr(Manifest, "add", original)

    result = ingest(project)
    assert result.restored == 1
    state = lake_state(project.root)
    assert state["table"][0][:2] == (FILES * ROWS_PER_FILE, FILES * ROWS_PER_FILE)
    assert len(state["manifest"]) == FILES
    assert {m[1] for m in state["manifest"]} == {f"part_{i:03}.csv" for i in range(FILES)}
    assert state["manifest_ids"]
