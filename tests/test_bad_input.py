"""Bad input: a clear error naming the source and what to do, a non-zero exit, nothing half-landed."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

from c360.config import load_project
from c360.errors import ConfigError
from c360.lake.catalog import open_catalog
from c360.lake.query import run_query
from c360.raw.ingest import IngestError, ingest
from tests.projects import write_project


def c360(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "c360", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def landed(directory: Path) -> list[tuple]:
    catalog = open_catalog(load_project(directory))
    return [tuple(r.values()) for r in run_query(catalog, "SELECT source, rows FROM raw.batches").to_pylist()]


def csv_project(tmp_path: Path, extra: str = "") -> Path:
    return write_project(tmp_path, f'[sources.orders]\nkind = "delimited"\npath = "data/*.csv*"\n{extra}')


def test_missing_file_names_the_source_and_the_fix(tmp_path: Path) -> None:
    result = c360("ingest", "--dir", str(csv_project(tmp_path)))
    assert result.returncode == 1
    assert "source 'orders'" in result.stderr
    assert "no file matches path 'data/*.csv*'" in result.stderr
    assert "check `path`" in result.stderr


def test_wrong_encoding_is_refused_and_nothing_lands(tmp_path: Path) -> None:
    project = csv_project(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_bytes("name,city\nJosé,Málaga\n".encode("latin-1"))
    result = c360("ingest", "--dir", str(project))
    assert result.returncode == 1
    assert "source 'orders'" in result.stderr and "not valid utf-8" in result.stderr
    assert "encoding" in result.stderr
    assert landed(project) == []
    assert list((project / "lake" / "raw").glob("orders/*")) == []

    text = (project / "c360.toml").read_text() + 'encoding = "latin-1"\n'
    (project / "c360.toml").write_text(text)
    assert c360("ingest", "--dir", str(project)).returncode == 0
    rows = run_query(open_catalog(load_project(project)), "SELECT name, city FROM raw.orders").to_pylist()
    assert rows == [{"name": "José", "city": "Málaga"}]


def test_truncated_gzip_is_refused_and_nothing_lands(tmp_path: Path) -> None:
    project = csv_project(tmp_path)
    (tmp_path / "data").mkdir()
    whole = gzip.compress(("id,amount\n" + "".join(f"{i},{i * 2}\n" for i in range(50_000))).encode())
    (tmp_path / "data" / "a.csv.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(IngestError, match=r"source 'orders': cannot read a\.csv\.gz"):
        ingest(load_project(project))
    assert landed(project) == []

    (tmp_path / "data" / "a.csv.gz").write_bytes(whole)
    result = ingest(load_project(project))
    assert result.sources[0].rows == 50_000


def test_malformed_lines_land_as_rejected_records_with_their_text(tmp_path: Path) -> None:
    project = csv_project(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("id,name\n1,Ann\n2,Bob,extra\n3\n4,Dan\n")
    result = ingest(load_project(project))
    assert (result.sources[0].rows, result.sources[0].rejected) == (4, 2)
    rows = run_query(
        open_catalog(load_project(project)),
        "SELECT id, name, _c360_line, _c360_text FROM raw.orders ORDER BY coalesce(id, _c360_text)",
    ).to_pylist()
    assert [(r["id"], r["name"]) for r in rows if r["id"]] == [("1", "Ann"), ("4", "Dan")]
    assert sorted((r["_c360_line"], r["_c360_text"]) for r in rows if not r["id"]) == [
        (3, "2,Bob,extra"),
        (4, "3"),
    ]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[lake]\npth = 'x'\n", "invalid key 'lake.pth'"),
        ("[sources.a]\nkind = 'csv'\npath = 'x'\n", "set kind to one of: delimited"),
        ("[sources.a]\nkind = 'delimited'\n", "invalid key 'sources.a.path': Field required"),
        ("[sources.Bad-Name]\nkind = 'delimited'\npath = 'x'\n", "must be lower-case letters"),
        ("[sources.a]\nkind = 'delimited'\npath = 'x'\nheader = 'maybe'\n", "sources.a.header"),
        ("[sources.a\nkind = 'delimited'\n", "not valid TOML"),
    ],
)
def test_invalid_config_gives_one_message_and_exit_2(tmp_path: Path, config: str, message: str) -> None:
    write_project(tmp_path, config)
    result = c360("ingest", "--dir", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("error:") == 1
    with pytest.raises(ConfigError):
        load_project(tmp_path)


def test_unknown_source_and_missing_project(tmp_path: Path) -> None:
    csv_project(tmp_path)
    result = c360("ingest", "nope", "--dir", str(tmp_path))
    assert result.returncode == 2 and "no source named 'nope'" in result.stderr and "orders" in result.stderr
    result = c360("ingest", "--dir", str(tmp_path / "elsewhere"))
    assert result.returncode == 2 and "c360 init" in result.stderr


def test_init_writes_a_config_that_loads(tmp_path: Path) -> None:
    assert c360("init", str(tmp_path / "p")).returncode == 0
    project = load_project(tmp_path / "p")
    assert project.settings.sources == {}
    assert 'kind = "fixed_width"' in (tmp_path / "p" / "c360.toml").read_text()
    assert c360("init", str(tmp_path / "p")).returncode == 2


def test_a_second_ingest_on_the_same_lake_refuses(tmp_path: Path) -> None:
    from c360.lake.lock import writer_lock

    project = csv_project(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("id\n1\n")
    with writer_lock(load_project(project).lake_dir, "a test holding the lake"):
        result = c360("ingest", "--dir", str(project))
    assert result.returncode == 3
    assert "busy: a test holding the lake" in result.stderr
    assert c360("ingest", "--dir", str(project)).returncode == 0
    assert landed(project) == [("orders", 1)]


def test_one_failing_source_does_not_stop_the_others(tmp_path: Path) -> None:
    config = (
        '[sources.broken]\nkind = "delimited"\npath = "missing/*.csv"\n\n'
        '[sources.orders]\nkind = "delimited"\npath = "data/*.csv"\n'
    )
    write_project(tmp_path, config)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("id\n1\n2\n")
    result = c360("ingest", "--dir", str(tmp_path))
    assert result.returncode == 1
    assert "1 of 2 sources failed" in result.stderr and "source 'broken'" in result.stderr
    assert "failed" in result.stdout and "orders" in result.stdout
    assert landed(tmp_path) == [("orders", 2)]
