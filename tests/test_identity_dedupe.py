"""Standalone dedupe on plain files the project never ingested: two CSVs with their own column names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from c360.errors import C360Error
from c360.identity.dedupe import dedupe
from c360.identity.errors import NoUsableFields
from c360.identity.evaluate import evaluate

MAPPING = {"first_name": "given", "last_name": "family", "full_name": "name", "email": "mail", "phone": "tel",
           "birth_date": "born", "address": "street", "city": "town"}  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A customer list (from the simulated CRM) and a web-shop account list (from the simulated
    store), rewritten as plain CSVs with their own column names, and the truth."""
    root = tmp_path_factory.mktemp("dedupe")
    sim = root / "sim"
    subprocess.run(
        [sys.executable, "-m", "c360", "simulate", "--customers", "1500", "--seed", "3", "--out", str(sim)],
        check=True,
        capture_output=True,
    )
    con = duckdb.connect()
    customers, accounts = root / "customers.csv", root / "accounts.csv"
    con.execute(
        f"""COPY (SELECT DISTINCT ON (client_id) client_id AS id, first_name AS given,
                  last_name AS family, email AS mail, phone AS tel, TRY_CAST(birth_date AS DATE) AS born,
                  address AS street, city AS town
                  FROM read_json('{sim}/crm/clients.jsonl', format = 'newline_delimited',
                                 ignore_errors = true,
                                 columns = {{client_id: 'BIGINT', first_name: 'VARCHAR', last_name: 'VARCHAR',
                                            email: 'VARCHAR', phone: 'VARCHAR', birth_date: 'VARCHAR',
                                            address: 'VARCHAR', city: 'VARCHAR', updated_at: 'VARCHAR'}})
                  WHERE client_id IS NOT NULL ORDER BY client_id, updated_at DESC)
            TO '{customers}' (HEADER)"""
    )
    con.execute(
        f"""COPY (SELECT DISTINCT ON (user_id) user_id AS id, full_name AS name, email AS mail, phone AS tel,
                         city AS town
                  FROM read_csv('{sim}/store_users/store_users.csv', all_varchar = true, ignore_errors = true)
                  WHERE user_id IS NOT NULL)
            TO '{accounts}' (HEADER)"""
    )
    return customers, accounts, sim / "_truth" / "records.csv"


def test_links_two_plain_csv_files(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    customers, accounts, truth = files
    out = tmp_path / "clusters.parquet"
    counts = dedupe([customers, accounts], "id", MAPPING, out)
    result = pq.read_table(out)
    assert result.column_names == ["record_id", "source", "record_key", "cluster_id"]
    assert counts["records"] == result.num_rows
    assert set(result.column("source").to_pylist()) == {"customers", "accounts"}
    assert all(r.startswith(("customers:", "accounts:")) for r in result.column("record_id").to_pylist())
    linked = duckdb.sql(
        "SELECT count(DISTINCT cluster_id) FROM result GROUP BY cluster_id HAVING count(DISTINCT source) = 2"
    ).fetchall()
    assert len(linked) > 100, "customers found again among the shop accounts"
    # score against the simulator's truth: customers are CRM clients, accounts are store users
    con = duckdb.connect()
    con.register("result", result)
    scored = con.sql(
        "SELECT CASE source WHEN 'customers' THEN 'crm' ELSE 'store_users' END AS source, record_key, "
        "cluster_id AS cluster FROM result"
    ).to_arrow_table()
    scores = evaluate(scored, truth, seen_only=True)
    assert scores["precision"] >= 0.95
    assert scores["bcubed_f1"] >= 0.97


def test_one_file_with_defaults_writes_csv(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, accounts, _ = files
    plain = tmp_path / "people.csv"
    duckdb.sql(
        f"COPY (SELECT id, name AS full_name, mail AS email, town AS city FROM '{accounts}') TO '{plain}'"
    )
    out = tmp_path / "out" / "clusters.csv"
    counts = dedupe([plain], "id", None, out)
    rows = duckdb.sql(f"SELECT * FROM read_csv('{out}', all_varchar = true)").fetchall()
    assert len(rows) == counts["records"] > 0
    assert all(r[0] == r[2] for r in rows), "one file: the record id is the id as given"
    assert counts["clusters"] < counts["records"]


def test_clear_errors(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    customers, _, _ = files
    with pytest.raises(C360Error, match="no file"):
        dedupe([tmp_path / "missing.csv"], "id", None, tmp_path / "o.csv")
    with pytest.raises(
        C360Error, match=r"no file has a column 'surname' \(.*customers.csv has id, given, family"
    ):
        dedupe([customers], "id", {"last_name": "surname"}, tmp_path / "o.csv")
    with pytest.raises(C360Error, match="'nickname' is not a person field"):
        dedupe([customers], "id", {"nickname": "given"}, tmp_path / "o.csv")
    with pytest.raises(C360Error, match="no id column 'key'"):
        dedupe([customers], "key", None, tmp_path / "o.csv")
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("id,amount\n1,5\n2,7\n", encoding="utf-8")
    with pytest.raises(NoUsableFields, match="no column to match people on"):
        dedupe([numbers], "id", None, tmp_path / "o.csv")
