"""The identity matching engine on a simulated, ingested and staged lake plus hand-built hard cases.

The population gives the model something real to train on; the hard cases (twins, a married name
change, a family sharing an e-mail, a typo'd e-mail, swapped names, a nickname, a wrong client id on
a retail order, a record with no identifier) are added as extra records with names no simulated
person has, and each is checked by the cluster it lands in.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from c360.demo import person_sources_config
from c360.identity import normalize
from c360.identity.clusters import connected_components
from c360.identity.errors import ModelDidNotConverge
from c360.identity.evaluate import evaluate
from c360.identity.matching import find_edges
from c360.identity.model import MatchModel, train
from c360.identity.records import RECORDS_SCHEMA, person_records, register_person_records
from c360.lake.catalog import open_lake_catalog

THRESHOLD = 0.9


def _c360(*args: str, cwd: Path | None = None) -> None:
    subprocess.run([sys.executable, "-m", "c360", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("identity")
    _c360("simulate", "--customers", "1500", "--seed", "11", "--out", str(root / "sources"))
    (root / "c360.toml").write_text(person_sources_config(root / "sources"), encoding="utf-8")
    _c360("ingest", cwd=root)
    _c360("stage", cwd=root)
    return root


@pytest.fixture(scope="module")
def engine(project: Path) -> tuple[duckdb.DuckDBPyConnection, MatchModel]:
    con = duckdb.connect()
    register_person_records(con, open_lake_catalog(project / "lake"), "population")
    model = train(con, "population")
    return con, MatchModel.from_json(model.to_json())


def _record(record_id: str, **values: object) -> dict[str, object]:
    source, _, key = record_id.partition(":")
    row = {name: None for name in RECORDS_SCHEMA.names}
    row.update(record_id=record_id, source=source, record_key=key, **values)
    return row


HARD_CASES = [
    # twins: same family name, birth date, address, phone and city; different given names
    _record(
        "crm:900000001",
        client_id=900000001,
        first_name="Quillon",
        last_name="Zabrowski",
        birth_date=date(1990, 5, 5),
        address="12 Elmwood Street",
        city="Oslo",
        phone="+4791234567",
        email="quillon.zabrowski@example.org",
    ),
    _record(
        "crm:900000002",
        client_id=900000002,
        first_name="Marius",
        last_name="Zabrowski",
        birth_date=date(1990, 5, 5),
        address="12 Elmwood Street",
        city="Oslo",
        phone="+4791234567",
    ),
    # a married name change: the store still has the new name, the CRM the maiden name
    _record(
        "crm:900000003",
        client_id=900000003,
        first_name="Ingrid",
        last_name="Thornquist",
        birth_date=date(1985, 2, 3),
        city="Bergen",
        email="ingrid.thornquist@example.org",
    ),
    _record(
        "store_users:900000004",
        first_name="Ingrid",
        last_name="Pallaskov",
        city="Bergen",
        email="ingrid.thornquist@example.org",
    ),
    # a family sharing one e-mail address and one address
    _record(
        "crm:900000005",
        client_id=900000005,
        first_name="Hektor",
        last_name="Brandvold",
        birth_date=date(1970, 1, 1),
        address="7 Fjord Road",
        city="Tromso",
        email="brandvold.home@example.org",
    ),
    _record(
        "crm:900000006",
        client_id=900000006,
        first_name="Solveig",
        last_name="Brandvold",
        birth_date=date(1972, 3, 3),
        address="7 Fjord Road",
        city="Tromso",
        email="brandvold.home@example.org",
    ),
    # a typo'd e-mail
    _record(
        "crm:900000007",
        client_id=900000007,
        first_name="Cornelius",
        last_name="Fairweatherby",
        birth_date=date(1980, 8, 8),
        city="Leeds",
        email="cornelius.fairweatherby@example.org",
    ),
    _record(
        "store_users:900000008",
        first_name="Cornelius",
        last_name="Fairweatherby",
        city="Leeds",
        email="cornelius.fairweatherbi@example.org",
    ),
    # swapped given and family names ("Grimaldo Anselmus" typed without a comma)
    _record(
        "crm:900000009",
        client_id=900000009,
        first_name="Anselmus",
        last_name="Grimaldo",
        birth_date=date(1966, 6, 6),
        city="Turin",
        email="anselmus.g@example.org",
    ),
    _record(
        "retail_orders:900000010",
        first_name="Grimaldo",
        last_name="Anselmus",
        city="Turin",
        email="anselmus.g@example.org",
    ),
    # a nickname
    _record(
        "crm:900000011",
        client_id=900000011,
        first_name="Robert",
        last_name="Quennevillard",
        birth_date=date(1975, 7, 7),
        city="Lyon",
        email="rq.lyon@example.org",
    ),
    _record(
        "store_users:900000012",
        first_name="Bob",
        last_name="Quennevillard",
        city="Lyon",
        email="rq.lyon@example.org",
    ),
    # a retail order with someone else's client id (the Brandvold father's)
    _record(
        "retail_orders:900000013",
        client_id=900000005,
        first_name="Oskarine",
        last_name="Lindqvistova",
        city="Prague",
        email="oskarine.l@example.org",
    ),
    # no usable identifier at all
    _record("store_users:900000014"),
]


def _clusters(con: duckdb.DuckDBPyConnection, records: str, edges: str) -> dict[str, str]:
    table = connected_components(con, records, edges, THRESHOLD, out="test_clusters")
    return dict(con.execute(f"SELECT record_id, cluster_key FROM {table}").fetchall())


def _assert_hard_cases(cluster: dict[str, str]) -> None:
    def same(a: str, b: str) -> bool:
        return cluster[a] == cluster[b]

    assert not same("crm:900000001", "crm:900000002"), "twins merged"
    assert same("crm:900000003", "store_users:900000004"), "married name change not linked"
    assert not same("crm:900000005", "crm:900000006"), "family sharing an e-mail merged"
    assert same("crm:900000007", "store_users:900000008"), "typo'd e-mail not linked"
    assert same("crm:900000009", "retail_orders:900000010"), "swapped names not linked"
    assert same("crm:900000011", "store_users:900000012"), "nickname not linked"
    assert not same("crm:900000005", "retail_orders:900000013"), "wrong client_id trusted"
    assert cluster["store_users:900000014"] == "store_users:900000014", "empty record not alone"


@pytest.fixture(scope="module")
def with_hard_cases(engine: tuple[duckdb.DuckDBPyConnection, MatchModel]) -> duckdb.DuckDBPyConnection:
    con, _ = engine
    con.register("__hard", pa.Table.from_pylist(HARD_CASES, schema=RECORDS_SCHEMA))
    con.execute("CREATE OR REPLACE TABLE hard AS SELECT * FROM __hard")
    con.execute("CREATE OR REPLACE TABLE everyone AS SELECT * FROM population UNION ALL SELECT * FROM hard")
    return con


def test_person_records_match_the_truth_keys(project: Path) -> None:
    records = person_records(open_lake_catalog(project / "lake"))
    assert records.schema == RECORDS_SCHEMA
    con = duckdb.connect()
    con.register("records", records)
    truth = str(project / "sources" / "_truth" / "records.csv")
    unique, total, crm_once, known = con.execute(
        "SELECT count(DISTINCT record_id), count(*), "
        "(SELECT count(*) = count(DISTINCT client_id) FROM records WHERE source = 'crm'), "
        "(SELECT count(*) FROM records r JOIN read_csv(?, all_varchar = true) t "
        " ON t.source = r.source AND t.record_key = r.record_key) FROM records",
        [truth],
    ).fetchall()[0]
    assert unique == total and crm_once
    assert known == total, "every person record is a record the truth knows"
    sources = set(records.column("source").to_pylist())
    assert sources == {"crm", "dispositions", "web_visitors", "retail_orders", "store_users"}


def test_normalization_of_names_phones_and_nicknames() -> None:
    con = duckdb.connect()
    normalize.install(con)
    row = con.execute(
        "SELECT c360_given_of('Smith, John'), c360_family_of('Smith, John'), c360_given_of('JOHN SMITH'), "
        "c360_family_of('Maria van Dijk'), c360_fold('Müller-O''Brien'), c360_phone('(435) 783-6646'), "
        "c360_phone('0044 4357836646'), c360_phone_key(c360_phone('+1 435-783-6646')), "
        "c360_phone_key(c360_phone('435.783.6646')), c360_email('  John.Smith@Example.COM '), "
        "c360_email('not an email'), (SELECT formal FROM c360_nicknames WHERE nickname = 'bob')"
    ).fetchall()[0]
    assert row == (
        "John", "Smith", "John", "van Dijk", "mullerobrien", "+14357836646",
        "+444357836646", "357836646", "357836646", "john.smith@example.com", None, "robert",
    )  # fmt: skip


def test_hard_cases_over_a_full_run(
    engine: tuple[duckdb.DuckDBPyConnection, MatchModel], with_hard_cases: duckdb.DuckDBPyConnection
) -> None:
    con, model = engine
    edges = find_edges(con, "everyone", model, out="full_edges")
    _assert_hard_cases(_clusters(con, "everyone", edges))
    rules = dict(con.execute(f"SELECT rule, count(*) FROM {edges} GROUP BY rule").fetchall())
    assert set(rules) == {"client_id", "email", "phone", "web_login", "model"}
    evidence = con.execute(
        f"SELECT evidence FROM {edges} WHERE rule = 'model' AND record_id_l = 'crm:900000009' "
        "OR record_id_r = 'crm:900000009' AND rule = 'model'"
    ).fetchall()
    assert any('"name":{"gamma":' in e[0] and '"level":"swapped"' in e[0] for e in evidence)


def test_a_new_batch_only_makes_edges_touching_it(
    engine: tuple[duckdb.DuckDBPyConnection, MatchModel], with_hard_cases: duckdb.DuckDBPyConnection
) -> None:
    con, model = engine
    base = find_edges(con, "population", model, out="base_edges")
    added = find_edges(con, "population", model, new="hard", out="batch_edges")
    hard_ids = {r["record_id"] for r in HARD_CASES}
    pairs = con.execute(f"SELECT record_id_l, record_id_r FROM {added}").fetchall()
    assert pairs and all(left in hard_ids or right in hard_ids for left, right in pairs)
    con.execute(f"CREATE OR REPLACE TABLE both_edges AS SELECT * FROM {base} UNION ALL SELECT * FROM {added}")
    incremental = _clusters(con, "everyone", "both_edges")
    _assert_hard_cases(incremental)
    full = find_edges(con, "everyone", model, out="full_edges")
    assert incremental == _clusters(con, "everyone", full), "the batch clusters as a full rebuild would"


def test_quality_against_the_simulator_truth(
    project: Path, engine: tuple[duckdb.DuckDBPyConnection, MatchModel]
) -> None:
    con, model = engine
    edges = find_edges(con, "population", model, out="quality_edges")
    table = connected_components(con, "population", edges, THRESHOLD, out="quality_clusters")
    assignments = con.sql(f"SELECT record_id, cluster_key AS cluster FROM {table}").to_arrow_table()
    truth = project / "sources" / "_truth" / "records.csv"
    seen = evaluate(assignments, truth, seen_only=True)
    assert seen["precision"] >= 0.97
    assert seen["f1"] >= 0.95


def test_training_is_reproducible(engine: tuple[duckdb.DuckDBPyConnection, MatchModel]) -> None:
    con, model = engine
    again = train(con, "population")

    def parameters(m: MatchModel) -> list[tuple[str, str, float | None, float | None]]:
        return [
            (
                c["output_column_name"],
                level["label_for_charts"],
                level.get("m_probability"),
                level.get("u_probability"),
            )
            for c in m.splink["comparisons"]
            for level in c["comparison_levels"]
        ]

    # equal up to the last bits of a parallel floating-point sum
    assert [p[:2] for p in parameters(again)] == [p[:2] for p in parameters(model)]
    for new, old in zip(parameters(again), parameters(model), strict=True):
        assert new[2:] == pytest.approx(old[2:], rel=1e-9)
    assert (
        again.splink["blocking_rules_to_generate_predictions"]
        == model.splink["blocking_rules_to_generate_predictions"]
    )
    assert MatchModel.from_json(again.to_json()).splink == again.splink


def test_a_model_that_does_not_converge_names_its_parameters(
    engine: tuple[duckdb.DuckDBPyConnection, MatchModel],
) -> None:
    con, _ = engine
    with pytest.raises(ModelDidNotConverge) as failure:
        train(con, "population", max_iterations=1)
    assert failure.value.parameters
    assert all("/" in p and "->" in p for p in failure.value.parameters)
    assert "did not converge after 1 EM iterations" in str(failure.value)
