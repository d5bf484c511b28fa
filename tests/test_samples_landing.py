"""Every real extract of the reference system lands, configured as a user would configure it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from c360.config import load_project
from c360.lake.catalog import open_catalog
from c360.lake.query import run_query
from c360.raw.ingest import ingest
from tests.projects import SAMPLES, SAMPLES_CONFIG, write_project

EXPECTED_ROWS = {
    "crm": 500,
    "accounts": 1_999,
    "cards": 15_127,
    "dispositions": 200,
    "web_visitors": 201,
    "web_sessions": 90,
    "retail": 9_994,
}


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory):
    project = load_project(write_project(tmp_path_factory.mktemp("samples"), SAMPLES_CONFIG))
    result = ingest(project)
    return project, result


def query(project, sql: str) -> list[tuple]:
    return [tuple(row.values()) for row in run_query(open_catalog(project), sql).to_pylist()]


def test_row_counts_equal_the_records_in_each_file(landed) -> None:
    project, result = landed
    assert {s.source: s.rows for s in result.sources} == EXPECTED_ROWS
    for source, rows in EXPECTED_ROWS.items():
        assert query(project, f"SELECT count(*) FROM raw.{source}") == [(rows,)]
    manifest = dict(query(project, "SELECT source, sum(rows) FROM raw.batches GROUP BY source"))
    assert manifest == EXPECTED_ROWS


def test_files_land_byte_for_byte(landed) -> None:
    project, _ = landed
    rows = query(project, "SELECT sha256, location, bytes FROM raw.batches")
    assert len(rows) == 6 + 9
    for sha256, location, size in rows:
        data = Path(location).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha256
        assert len(data) == size
    original = (SAMPLES / "retail" / "Retail-SaaS-Sales.csv").read_bytes()
    assert original.startswith(b"\xef\xbb\xbf")
    assert hashlib.sha256(original).hexdigest() in {sha for sha, _, _ in rows}


def test_values_land_as_written(landed) -> None:
    project, _ = landed
    # The BOM is not part of the first column's name, and impossible dates are kept for stage.
    assert query(project, "SELECT Order_ID, Order_Date, client_id FROM raw.retail WHERE Row_ID = '1'") == [
        ("EMEA-2022-152156", "11/9/2022", "5017")
    ]
    assert query(
        project, "SELECT count(*) FROM raw.retail WHERE try_strptime(Order_Date, '%m/%d/%Y') IS NULL"
    ) == [(817,)]
    assert query(project, "SELECT client_id, marital_status, client_created_date FROM raw.crm LIMIT 1") == [
        ("5000", "D", "2023-07-20T06:40:13.494626")
    ]
    assert query(project, "SELECT card_id, type FROM raw.cards WHERE _c360_record = 1") == [
        ("5536114288494476", "classic")
    ]
    nested = query(
        project,
        "SELECT json_extract_string(totals, '$.pageviews'), json_array_length(hits) "
        "FROM raw.web_sessions WHERE visitId = '1500694586'",
    )
    assert nested == [("4", 4)]


def test_landing_the_same_bytes_again_is_a_no_op(landed) -> None:
    project, _ = landed
    before = query(project, "SELECT count(*) FROM raw.batches")
    again = ingest(project)
    assert all(s.batches == 0 and s.rows == 0 for s in again.sources)
    assert sum(s.skipped for s in again.sources) == 15
    assert query(project, "SELECT count(*) FROM raw.batches") == before
    assert query(project, "SELECT count(*) FROM raw.retail") == [(9_994,)]


def test_stage_quarantines_exactly_the_impossible_retail_dates(landed) -> None:
    from c360.stage.runner import stage

    project, _ = landed
    result = {s.source: s for s in stage(project).sources}
    assert {name: s.quarantine_rows for name, s in result.items()} == {name: 0 for name in EXPECTED_ROWS} | {
        "retail": 817
    }
    assert {name: s.stage_rows + s.quarantine_rows for name, s in result.items()} == EXPECTED_ROWS
    reasons = query(
        project, "SELECT rule, column_name, count(*), min(value) FROM quarantine.retail GROUP BY ALL"
    )
    assert reasons == [("format", "order_date", 817, "50/1/2020")]
    reconciliation = query(
        project,
        "SELECT count(*), sum(CASE WHEN raw_rows = stage_rows + quarantine_rows THEN 1 ELSE 0 END) "
        "FROM stage.batches",
    )
    assert reconciliation == [(15, 15)]
    assert query(project, "SELECT count(*) FROM stage.web_session_hits") == [(255,)]
