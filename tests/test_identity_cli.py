"""`c360 identity` on a simulated bank and store, through the lake: run, rebuild, a new batch,
link and unlink across rebuilds, explain, evaluate."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from c360.config import load_project
from c360.demo import person_sources_config
from c360.identity.records import person_records
from c360.lake.catalog import open_catalog
from c360.lake.tables import load_table, read_arrow
from c360.raw.ingest import ingest
from c360.simulate import generate
from c360.stage.runner import stage


def c360(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "c360", *args], capture_output=True, text=True)


def land(project_dir: Path, sim: Path, retail: str) -> None:
    (project_dir / "c360.toml").write_text(person_sources_config(sim, retail), encoding="utf-8")
    project = load_project(project_dir)
    ingest(project)
    stage(project)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("identity")
    sim = root / "sim"
    generate(600, 42, sim)
    directory = root / "project"
    directory.mkdir()
    land(directory, sim, "retail_orders.csv")  # the second retail file arrives later, as a new batch
    return directory


def assignments(directory: Path) -> dict[str, int]:
    table = load_table(open_catalog(load_project(directory)), "identity.record_customers")
    rows = read_arrow(table).select(["record_id", "customer_id"]).to_pydict()
    return dict(zip(rows["record_id"], rows["customer_id"], strict=True))


def identity(directory: Path, *args: str) -> subprocess.CompletedProcess:
    result = c360("identity", *args, "--dir", str(directory))
    assert result.returncode == 0, result.stderr
    return result


def test_run_gives_every_record_a_customer_and_scores_well(project: Path) -> None:
    result = identity(project, "run")
    assert "full run" in result.stdout
    ids = assignments(project)
    assert (project / "lake" / "identity" / "model.json").is_file()
    catalog = open_catalog(load_project(project))
    # every person record has a customer: visitors that never logged in too (each its own)
    assert set(person_records(catalog).column("record_id").to_pylist()) == ids.keys()
    sizes = Counter(ids.values())
    alone = [r for r in ids if r.startswith("web_visitors:") and sizes[ids[r]] == 1]
    assert alone
    golden = read_arrow(load_table(catalog, "identity.golden"))
    assert sorted(golden.column("customer_id").to_pylist()) == sorted(set(ids.values()))
    report = json.loads(
        identity(project, "evaluate", "--sim", str(project.parent / "sim"), "--format", "json").stdout
    )
    assert {"precision", "recall", "f1"} <= report.keys()
    assert report["f1"] > 0.8 and report["precision"] > 0.8


def test_explain_shows_the_records_and_the_evidence(project: Path) -> None:
    ids = assignments(project)
    crm = min(r for r in ids if r.startswith("crm:"))
    tree = identity(project, "explain", crm).stdout
    assert f"customer {ids[crm]}" in tree and crm in tree and "golden record" in tree
    by_customer = json.loads(identity(project, "explain", str(ids[crm]), "--format", "json").stdout)
    members = {r for r, c in ids.items() if c == ids[crm]}
    assert {r["record_id"] for r in by_customer["records"]} == members
    assert all(e["record_id_l"] in members or e["record_id_r"] in members for e in by_customer["edges"])
    if len(members) > 1:
        assert any(e["used"] and e["evidence"]["rule"] for e in by_customer["edges"])
    missing = c360("identity", "explain", "crm:nope", "--dir", str(project))
    assert missing.returncode == 1 and "no record crm:nope" in missing.stderr


def test_train_puts_a_new_model_in_use_and_keeps_the_old_one(project: Path) -> None:
    model_file = project / "lake" / "identity" / "model.json"
    before = json.loads(model_file.read_text(encoding="utf-8"))["version"]
    result = identity(project, "train")
    after = json.loads(model_file.read_text(encoding="utf-8"))["version"]
    assert after != before and f"model {after} in use" in result.stdout
    history = sorted(p.stem for p in (project / "lake" / "identity" / "models").glob("*.json"))
    assert history == sorted([before, after])


def test_a_rebuild_then_a_new_batch_keep_every_persons_id(project: Path) -> None:
    before = assignments(project)
    rebuilt = identity(project, "run", "--full")
    assert "full run" in rebuilt.stdout
    assert assignments(project) == before
    land(project, project.parent / "sim", "retail_orders*.csv")
    after_batch = identity(project, "run")
    assert "incremental run" in after_batch.stdout
    after = assignments(project)
    assert len(after) > len(before)
    assert {r: after[r] for r in before} == before
    # nothing new: nothing written, not even a snapshot
    snapshots = len(load_table(open_catalog(load_project(project)), "identity.record_customers").snapshots())
    identity(project, "run")
    table = load_table(open_catalog(load_project(project)), "identity.record_customers")
    assert len(table.snapshots()) == snapshots


def test_link_and_unlink_hold_across_rebuilds(project: Path) -> None:
    ids = assignments(project)
    customers: dict[int, list[str]] = {}
    for record_id, customer_id in sorted(ids.items()):
        customers.setdefault(customer_id, []).append(record_id)
    crm = sorted(r for r in ids if r.startswith("crm:"))
    a, b = crm[0], next(r for r in crm if ids[r] != ids[crm[0]])
    together = next(
        records for c, records in customers.items() if len(records) >= 2 and c not in (ids[a], ids[b])
    )
    x, y = together[0], together[1]
    identity(project, "link", a, b, "--note", "same person, says the branch")
    identity(project, "unlink", x, y, "--note", "twins")
    for args in (("run",), ("run", "--full")):
        identity(project, *args)
        now = assignments(project)
        assert now[a] == now[b]
        assert now[x] != now[y]
    catalog = open_catalog(load_project(project))
    changes = read_arrow(load_table(catalog, "identity.id_changes")).to_pylist()
    merge = next(c for c in changes if c["kind"] == "merge" and c["reason"] == "merged by override")
    retired = merge["related_ids"][0]
    followed = json.loads(identity(project, "explain", str(retired), "--format", "json").stdout)
    assert followed["customer_id"] == merge["customer_id"] == now[a]
    assert f"customer {retired} was merged into {now[a]}" in followed["merged_from"]
    assert any(c["kind"] == "split" and c["reason"].startswith("override: unlink") for c in changes)
    kinds = [o["kind"] for o in read_arrow(load_table(catalog, "identity.overrides")).to_pylist()]
    assert sorted(kinds) == ["link", "unlink"]


def test_overrides_name_known_records(project: Path) -> None:
    result = c360("identity", "link", "crm:nope", "crm:also-nope", "--dir", str(project))
    assert result.returncode == 1 and "no record crm:nope" in result.stderr


def test_dedupe_a_plain_csv_the_project_never_saw(tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text(
        "id,first_name,last_name,mail,phone,dob,town\n"
        "1,Robert,Miller,bob.miller@gmail.com,+1 555 201 3344,1980-02-03,Boston\n"
        "2,Bob,Miller,bob.miller@gmail.com,(555) 201-3344,1980-02-03,Boston\n"
        "3,Miller,Robert,,555.201.3344,1980-02-03,Boston\n"
        "6,Carlos,Diaz,carlos.d@hotmail.com,+1 555 909 8080,1990-11-30,Austin\n"
        "7,Dana,Kim,dkim@outlook.com,+1 555 404 5050,1985-01-01,Miami\n",
        encoding="utf-8",
    )
    out = tmp_path / "clusters.csv"
    args = ["--map", "email=mail", "--map", "birth_date=dob", "--map", "city=town", "--out", str(out)]
    result = c360("identity", "dedupe", str(people), "--id", "id", *args)
    assert result.returncode == 0, result.stderr
    assert "5 records → 3 clusters" in result.stdout
    rows = [line.split(",") for line in out.read_text(encoding="utf-8").splitlines()[1:]]
    cluster = {row[0]: row[3] for row in rows}
    assert cluster["1"] == cluster["2"] == cluster["3"]
    assert len({cluster["1"], cluster["6"], cluster["7"]}) == 3
    bad = c360("identity", "dedupe", str(people), "--id", "id", "--map", "email", "--out", str(out))
    assert bad.returncode == 1 and "cannot read --map email" in bad.stderr
