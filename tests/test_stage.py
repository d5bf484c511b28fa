"""Stage on a hand-made source: every rule, normalization, duplicates, drift, and the invariant."""

from __future__ import annotations

from pathlib import Path

import pytest

from c360.config import load_project
from c360.lake.catalog import open_catalog
from c360.lake.query import run_query
from c360.raw.ingest import ingest
from c360.stage import runner
from c360.stage.runner import stage
from tests.projects import write_project

CONTRACT = """
description = "Hand-made customers"
key = ["id"]

[[columns]]
name = "id"
raw = "ID"
type = "bigint"
nullable = false
description = "identifier"

[[columns]]
name = "email"
raw = ["Email", "Mail"]
type = "varchar"
normalize = "email"
pattern = "[^@ ]+@[^@ ]+"
pii = "email"
description = "e-mail"

[[columns]]
name = "phone"
raw = "Phone"
type = "varchar"
normalize = "phone_e164"
pii = "phone"
description = "phone"

[[columns]]
name = "kind"
raw = "Kind"
type = "varchar"
nullable = false
allowed = ["A", "B"]
decode = { A = "alpha", B = "beta" }
description = "kind"

[[columns]]
name = "amount"
raw = "Amount"
type = "double"
min = 0
description = "amount"

[[columns]]
name = "created"
raw = "Created"
type = "date"
format = ["%Y-%m-%d", "%d/%m/%Y"]
description = "created"
"""

FIRST = """ID,Email,Phone,Kind,Amount,Created
1, Ann@Example.COM ,(555) 123-4567,A,10.5,2024-01-31
2,bob@example.com,+44 20 7946 0958,B,0,31/12/2023
3,cat@example.com,,X,1,2024-01-01
4,dan@example.com,,A,abc,2024-01-01
5,eve@example.com,,A,1,2024-13-01
,fay@example.com,,A,1,2024-01-01
1, Ann@Example.COM ,(555) 123-4567,A,10.5,2024-01-31
8,gus@example.com,,A,-5,2024-01-01
9,too,many,fields,here,1,2,3
10,hal@example.com,call me,A,1,2024-01-01
11,not-an-email,,B,1,2024-01-01
"""
SECOND = """ID,Mail,Phone,Kind,Amount,Created,Channel
1,ann@example.com,+15551234567,A,10.5,2024-01-31,web
12,ivy@example.com,555.987.6543,B,2,2024-02-01,store
"""
THIRD = """ID,Email,Amount
13,jo@example.com,1
14,kim@example.com,2
"""


@pytest.fixture
def project(tmp_path: Path):
    write_project(tmp_path, '[sources.people]\nkind = "delimited"\npath = "data/*.csv"\n')
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "people.toml").write_text(CONTRACT)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "1.csv").write_text(FIRST)
    return load_project(tmp_path)


def rows(project, sql: str) -> list[dict]:
    return run_query(open_catalog(project), sql).to_pylist()


def test_every_rule_and_normalization(project) -> None:
    ingest(project)
    result = stage(project).sources[0]
    assert (result.raw_rows, result.stage_rows, result.quarantine_rows, result.duplicates) == (11, 2, 9, 1)
    staged = rows(
        project,
        "SELECT id, email, phone, kind, amount, CAST(created AS VARCHAR) AS created "
        "FROM stage.people ORDER BY id",
    )
    assert staged == [
        {
            "id": 1,
            "email": "ann@example.com",
            "phone": "+15551234567",
            "kind": "alpha",
            "amount": 10.5,
            "created": "2024-01-31",
        },
        {
            "id": 2,
            "email": "bob@example.com",
            "phone": "+442079460958",
            "kind": "beta",
            "amount": 0.0,
            "created": "2023-12-31",
        },
    ]
    quarantined = rows(
        project,
        "SELECT _c360_record AS rec, _c360_line AS line, rule, column_name, value, violations "
        "FROM quarantine.people ORDER BY coalesce(rec, line)",
    )
    found = sorted((r["rule"], r["column_name"] or "", r["value"] or "") for r in quarantined)
    assert found == [
        ("allowed_values", "kind", "X"),
        ("duplicate", "", ""),
        ("format", "created", "2024-13-01"),
        ("format", "phone", "call me"),
        ("not_null", "id", ""),
        ("pattern", "email", "not-an-email"),
        ("range", "amount", "-5"),
        ("type", "amount", "abc"),
        ("unparseable", "", "9,too,many,fields,here,1,2,3"),
    ]
    by_rule = {r["rule"]: r for r in quarantined}
    assert by_rule["unparseable"]["line"] == 10 and "TOO MANY COLUMNS" in by_rule["unparseable"]["violations"]
    assert by_rule["allowed_values"]["violations"] == "allowed_values(kind)"
    assert by_rule["duplicate"]["rec"] == 7
    reconciliation = rows(project, "SELECT raw_rows, stage_rows, quarantine_rows, status FROM stage.batches")
    assert reconciliation == [{"raw_rows": 11, "stage_rows": 2, "quarantine_rows": 9, "status": "staged"}]


def test_quarantine_keeps_the_whole_raw_row(project) -> None:
    ingest(project)
    stage(project)
    bad = rows(project, "SELECT raw_row FROM quarantine.people WHERE rule = 'pattern'")
    assert len(bad) == 1 and '"Email":"not-an-email"' in bad[0]["raw_row"]


def test_drift_resends_and_a_batch_missing_a_required_column(project) -> None:
    ingest(project)
    stage(project)
    (project.root / "data" / "2.csv").write_text(SECOND)
    (project.root / "data" / "3.csv").write_text(THIRD)
    ingest(project)
    result = stage(project).sources[0]
    assert (result.batches, result.raw_rows, result.stage_rows, result.quarantine_rows) == (2, 4, 1, 3)
    assert rows(project, "SELECT id, email, phone, channel FROM stage.people WHERE id = 12") == [
        {"id": 12, "email": "ivy@example.com", "phone": "+15559876543", "channel": "store"}
    ]
    assert rows(project, "SELECT count(*) AS n FROM stage.people WHERE channel IS NULL") == [{"n": 2}]
    later = rows(
        project,
        "SELECT rule, column_name FROM quarantine.people WHERE _c360_batch_id IN "
        "(SELECT batch_id FROM raw.batches WHERE name <> '1.csv') ORDER BY rule",
    )
    assert later == [
        {"rule": "duplicate", "column_name": None},
        {"rule": "schema", "column_name": "kind"},
        {"rule": "schema", "column_name": "kind"},
    ]
    statuses = rows(project, "SELECT status, message FROM stage.batches WHERE status <> 'staged'")
    assert len(statuses) == 1 and "kind missing from this batch" in statuses[0]["message"]
    totals = rows(
        project,
        "SELECT sum(raw_rows) AS raw, sum(stage_rows) + sum(quarantine_rows) AS split FROM stage.batches",
    )
    assert totals == [{"raw": 15, "split": 15}]
    assert stage(project).sources[0].batches == 0


def test_a_crash_before_reconciliation_is_repaired(project, monkeypatch: pytest.MonkeyPatch) -> None:
    ingest(project)

    def crash(*args: object) -> None:
        raise KeyboardInterrupt("killed after the data commits")

    monkeypatch.setattr(runner, "_record", crash)
    with pytest.raises(KeyboardInterrupt):
        stage(project)
    assert rows(project, "SELECT count(*) AS n FROM stage.people") == [{"n": 2}]
    monkeypatch.undo()
    result = stage(project)
    assert result.repaired >= 2
    assert rows(project, "SELECT count(*) AS n FROM stage.people") == [{"n": 2}]
    assert rows(project, "SELECT count(*) AS n FROM quarantine.people") == [{"n": 9}]
