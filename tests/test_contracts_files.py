"""The built-in stage contracts: well-formed files, and true for the real reference extracts.

The sample checks read the files of ``samples/aws-c360/`` with DuckDB directly (every value as
text, the way the raw zone lands them) and apply each contract's formats, allowed values,
patterns, null and numeric rules, so a contract that would quarantine good reference rows fails
here rather than in a pipeline run.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from c360.demo import demo_config
from c360.stage.contract import load_contract
from tests.projects import SAMPLES

CONTRACTS = Path(__file__).resolve().parents[1] / "src" / "c360" / "stage" / "contracts"
SNAKE = re.compile(r"[a-z][a-z0-9_]*")
TYPE = re.compile(r"bigint|integer|double|boolean|varchar|date|timestamp|json|decimal\(\d+,\s*\d+\)")
PII = {"none", "name", "email", "phone", "address", "birth_date", "id", "location", "network"}
COLUMN_KEYS = {
    "name", "raw", "path", "type", "nullable", "description", "pii", "normalize", "format", "allowed",
    "decode", "pattern", "min", "max",
}  # fmt: skip
EMPTY = ""


def load(name: str) -> dict:
    return tomllib.loads((CONTRACTS / f"{name}.toml").read_text(encoding="utf-8"))


def demo_sources() -> list[str]:
    config = tomllib.loads(demo_config(Path("/sources"), "http://127.0.0.1:1", "sqlite:///bank.db"))
    return sorted(config["sources"])


SOURCES = demo_sources()


def all_columns(contract: dict) -> list[tuple[str, dict]]:
    """(table, column) for the contract's own columns and those of its exploded tables."""
    own = [("", c) for c in contract["columns"]]
    return own + [(t["name"], c) for t in contract.get("tables", []) for c in t["columns"]]


def test_every_demo_source_has_one_contract_file() -> None:
    assert SOURCES == [
        "accounts", "cards", "clickstream", "crm", "dispositions", "retail_orders", "store_users",
        "transactions", "web_sessions", "web_visitors",
    ]  # fmt: skip
    assert sorted(p.stem for p in CONTRACTS.glob("*.toml")) == SOURCES


@pytest.mark.parametrize("name", SOURCES)
def test_contract_file_is_complete(name: str) -> None:
    contract = load(name)
    assert isinstance(contract["description"], str) and len(contract["description"]) > 40
    assert contract["columns"], "a contract declares at least one column"
    names = [c["name"] for c in contract["columns"]]
    assert len(names) == len(set(names))
    assert contract["key"] and set(contract["key"]) <= set(names)
    for table, column in all_columns(contract):
        where = f"{name}.{table or name}.{column.get('name')}"
        assert set(column) <= COLUMN_KEYS, where
        assert SNAKE.fullmatch(column["name"]), where
        assert TYPE.fullmatch(column["type"]), where
        assert column["pii"] in PII, where
        assert isinstance(column["description"], str) and len(column["description"]) >= 20, where
        assert column["description"].strip() != column["name"], where
        assert isinstance(column.get("nullable", True), bool), where
        if table:  # an element of a JSON array: read by path only
            assert "raw" not in column and column["path"].startswith("$."), where
        else:
            assert column["raw"] and all(isinstance(r, str) and r for r in column["raw"]), where
            assert column.get("path", "$.").startswith("$."), where
        if "decode" in column:
            assert set(column["decode"]) == set(column["allowed"]), where
        if "format" in column:
            assert column["type"] in {"date", "timestamp"} and column["format"], where
    for table in contract.get("tables", []):
        assert SNAKE.fullmatch(table["name"]) and table["name"] not in SOURCES
        assert set(table["parent"]) <= set(names)
        child = [table["parent"], [c["name"] for c in table["columns"]]]
        assert len(set(child[0] + child[1])) == len(child[0]) + len(child[1])
        assert table["array"] not in {raw for c in contract["columns"] for raw in c["raw"]}


@pytest.mark.parametrize("name", SOURCES)
def test_contract_loads_with_the_stage_loader(name: str, tmp_path: Path) -> None:
    contract = load_contract(name, tmp_path)
    assert contract is not None
    assert [c.name for c in contract.columns] == [c["name"] for c in load(name)["columns"]]


PERSONAL = {
    ("crm", "first_name"): "name",
    ("crm", "last_name"): "name",
    ("crm", "email"): "email",
    ("crm", "phone"): "phone",
    ("crm", "address"): "address",
    ("crm", "birth_date"): "birth_date",
    ("store_users", "full_name"): "name",
    ("store_users", "email"): "email",
    ("store_users", "phone"): "phone",
    ("retail_orders", "contact_name"): "name",
    ("retail_orders", "contact_email"): "email",
    ("retail_orders", "contact_phone"): "phone",
    ("clickstream", "ip"): "network",
    ("clickstream", "user_agent"): "network",
    ("web_sessions", "full_visitor_id"): "id",
    ("cards", "card_id"): "id",
}


def test_pii_is_tagged_on_personal_details() -> None:
    tags = {(name, c["name"]): c["pii"] for name in SOURCES for _, c in all_columns(load(name))}
    assert {key: tags[key] for key in PERSONAL} == PERSONAL
    for (source, column), tag in tags.items():
        for word in ("email", "phone", "address", "birth"):
            if word in column:
                assert tag == word.replace("birth", "birth_date"), (source, column)


# ------------------------------------------------------------------------------------- formats

FORMAT_EXAMPLES = [
    ("accounts", "date_of_creation", "2023-08-10T06:39:58.182050", datetime(2023, 8, 10, 6, 39, 58, 182050)),
    ("accounts", "date_of_creation", "2023-08-10T06:39:58", datetime(2023, 8, 10, 6, 39, 58)),
    ("accounts", "date_of_creation", "2024-02-30T06:39:58.182050", None),
    ("cards", "issued_datetime", "2022-07-06T06:40:30.549687", datetime(2022, 7, 6, 6, 40, 30, 549687)),
    ("crm", "birth_date", "1999-11-11", date(1999, 11, 11)),
    ("crm", "birth_date", "1957-13-14", None),
    ("crm", "client_created_date", "2023-07-20T06:40:13.494626", datetime(2023, 7, 20, 6, 40, 13, 494626)),
    ("crm", "updated_at", "2022-06-01T09:48:40.068567Z", datetime(2022, 6, 1, 9, 48, 40, 68567)),
    ("store_users", "signup_date", "2018-01-01", date(2018, 1, 1)),
    ("store_users", "signup_date", "2019-02-30", None),
    ("clickstream", "event_time", "2024-05-22 00:00:47 UTC", datetime(2024, 5, 22, 0, 0, 47)),
    ("retail_orders", "order_date", "11/9/2022", date(2022, 11, 9)),
    ("retail_orders", "order_date", "1/2/2021", date(2021, 1, 2)),
    ("retail_orders", "order_date", "50/11/2021", None),
    ("retail_orders", "order_date", "2/30/2024", None),
    ("retail_orders", "date_key", "20211011", date(2021, 10, 11)),
    ("web_sessions", "visit_date", "20170731", date(2017, 7, 31)),
]


def column_of(name: str, column: str) -> dict:
    return next(c for c in load(name)["columns"] if c["name"] == column)


def lit(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def parse(column: dict, value_sql: str) -> str:
    """The contract's strptime formats tried in order, as stage does, cast to the column type."""
    tries = [f"try_strptime({value_sql}, {lit(fmt)})" for fmt in column["format"]]
    return f"CAST(coalesce({', '.join(tries)}, NULL) AS {column['type'].upper()})"


@pytest.mark.parametrize(("name", "column", "text", "expected"), FORMAT_EXAMPLES)
def test_formats_parse_with_duckdb_strptime(name: str, column: str, text: str, expected: object) -> None:
    con = duckdb.connect()
    value = con.execute(f"SELECT {parse(column_of(name, column), '$1')}", [text]).fetchall()[0][0]
    assert value == expected


def test_every_format_round_trips_through_duckdb() -> None:
    con = duckdb.connect()
    moment = datetime(2021, 10, 9, 13, 5, 7, 123456)
    for name in SOURCES:
        for _, column in all_columns(load(name)):
            for fmt in column.get("format", []):
                text = con.execute("SELECT strftime($1::TIMESTAMP, $2)", [moment, fmt]).fetchall()[0][0]
                parsed = con.execute("SELECT try_strptime($1, $2)", [text, fmt]).fetchall()[0][0]
                assert parsed is not None and parsed.date() == moment.date(), (name, column["name"], fmt)


# ------------------------------------------------------------------------------ real samples


def rules(column: dict, value: str) -> list[str]:
    """SQL conditions, true where ``value`` (the raw text, trimmed, empty as null) breaks the column."""
    if column.get("normalize") in {"email", "lower"}:
        value = f"lower({value})"
    kind = column["type"]
    broken = [] if column.get("nullable", True) else [f"{value} IS NULL"]
    if "allowed" in column:
        broken.append(f"{value} NOT IN ({', '.join(lit(a) for a in column['allowed'])})")
        cases = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in column.get("decode", {}).items())
        value = f"CASE {value} {cases} ELSE {value} END" if cases else value
    if "pattern" in column:
        broken.append(f"NOT regexp_full_match({value}, {lit(column['pattern'])})")
    if "format" in column:
        typed = parse(column, value)
    elif kind == "json":
        typed = f"CASE WHEN json_valid({value}) THEN {value} END"
    else:
        typed = f"TRY_CAST({value} AS {kind.upper()})"
    if kind in {"bigint", "integer"}:  # TRY_CAST would round '2.5' to 3
        broken.append(f"NOT regexp_full_match({value}, '-?[0-9]+')")
    broken.append(f"{value} IS NOT NULL AND {typed} IS NULL")
    for bound, op in (("min", "<"), ("max", ">")):
        if bound in column:
            limit = column[bound]
            limit_sql = f"CAST({lit(limit)} AS {kind.upper()})" if isinstance(limit, str) else str(limit)
            broken.append(f"{typed} {op} {limit_sql}")
    return broken


def violations(
    con: duckdb.DuckDBPyConnection, relation: str, columns: list[dict], json_col: str = ""
) -> dict:
    """Rows of ``relation`` breaking each column's rules, by column (columns with none left out).

    Text columns of ``relation`` are read by raw name; with ``json_col``, every raw name (and
    ``path`` below it) is read from that column's JSON object instead.
    """
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
    counts = {}
    for column in columns:
        if json_col:
            below = column.get("path", "$")[1:]
            paths = [f'$."{raw}"{below}' for raw in column.get("raw", [])] or [column["path"]]
            reads = [f"json_extract_string({json_col}, {lit(p)})" for p in paths]
        else:
            reads = [f'"{raw}"' for raw in column["raw"] if raw in present]
        texts = [f"nullif(trim({r}), {lit(EMPTY)})" for r in reads] or ["NULL"]  # absent: all null
        value = f"CAST(coalesce({', '.join(texts)}, NULL) AS VARCHAR)"
        condition = " OR ".join(f"coalesce({rule}, FALSE)" for rule in rules(column, value))
        failed = con.execute(f"SELECT count(*) FILTER (WHERE {condition}) FROM {relation}").fetchall()[0][0]
        if failed:
            counts[column["name"]] = failed
    return counts


def read_csv(folder: str, names: list[str] | None = None) -> str:
    header = "header = true" if names is None else f"header = false, names = {names}"
    return f"read_csv('{SAMPLES / folder}/*.csv', all_varchar = true, {header})"


HEADERLESS = {
    "accounts": ("account", ["account_id", "branch_id", "frequency", "date_of_creation"]),
    "cards": ("card", ["card_id", "disp_id", "type", "issued_datetime"]),
    "dispositions": ("gbank", ["account_id", "disp_id", "client_id", "type"]),
    "web_visitors": ("visitors", ["fullVisitorId", "client_id"]),
}


@pytest.mark.parametrize("name", sorted(HEADERLESS))
def test_headerless_sample_extracts_keep_their_contract(name: str) -> None:
    folder, names = HEADERLESS[name]
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM {read_csv(folder, names)}").fetchall()[0][0] > 100
    assert violations(con, read_csv(folder, names), load(name)["columns"]) == {}


def test_retail_sample_breaks_only_on_its_817_impossible_order_dates() -> None:
    con = duckdb.connect()
    retail = read_csv("retail")
    order_date = column_of("retail_orders", "order_date")
    failing = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {parse(order_date, 'Order_Date')} IS NULL), "
        f"count(*) FILTER (WHERE Order_Date LIKE '50/%') FROM {retail}"
    ).fetchall()
    assert failing == [(9_994, 817, 817)]
    assert violations(con, retail, load("retail_orders")["columns"]) == {"order_date": 817}


def test_crm_sample_keeps_its_contract_without_contact_columns() -> None:
    lines = (SAMPLES / "crm").glob("*.json")
    records = [json.dumps(ast.literal_eval(line)) for f in lines for line in f.read_text().splitlines()]
    con = duckdb.connect()
    con.register("crm", pa.table({"j": records}))
    assert len(records) == 500
    assert violations(con, "crm", load("crm")["columns"], json_col="j") == {}


def test_ga_sample_sessions_and_hits_keep_their_contract() -> None:
    con = duckdb.connect()
    sessions = f"(SELECT json AS j FROM read_ndjson_objects('{SAMPLES}/ga/*/*.json'))"
    contract = load("web_sessions")
    assert violations(con, sessions, contract["columns"], json_col="j") == {}
    (table,) = contract["tables"]
    hits = f"(SELECT unnest(CAST(json_extract(j, '$.{table['array']}') AS JSON[])) AS h FROM {sessions})"
    assert con.execute(f"SELECT count(*) FROM {hits}").fetchall() == [(255,)]
    assert violations(con, hits, table["columns"], json_col="h") == {}
