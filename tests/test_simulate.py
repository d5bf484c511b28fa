"""The source simulators: determinism, file layouts, dirt, attacks and ground truth.

One simulation of 1,500 customers is shared by the module; every assertion reads the files as a
connector would (csv, json, duckdb), never the simulator's internals.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import pytest

from c360.simulate import SOURCES, SimulationSummary, generate
from c360.simulate.layouts import CARD_LAYOUT, record_width

CUSTOMERS = 1_500
SEED = 7
CRM_FIELDS = [
    "client_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "address",
    "city",
    "country",
    "birth_date",
    "age",
    "home_ownership",
    "occupation",
    "marital_status",
    "head_of_household_flag",
    "client_created_date",
    "updated_at",
]
RETAIL_COLUMNS = [
    "Row_ID",
    "Order_ID",
    "Order_Date",
    "Date_Key",
    "Contact_Name",
    "Country",
    "City",
    "Region",
    "Subregion",
    "Customer",
    "client_id",
    "Industry",
    "Segment",
    "Product",
    "License",
    "Sales",
    "Quantity",
    "Discount",
    "Profit",
    "Contact_Email",
    "Contact_Phone",
]
EVENT_COLUMNS = [
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
    "ip",
    "user_agent",
]
GA_KEYS = [
    "visitorId",
    "visitNumber",
    "visitId",
    "visitStartTime",
    "date",
    "totals",
    "trafficSource",
    "device",
    "geoNetwork",
    "customDimensions",
    "hits",
    "fullVisitorId",
    "userId",
    "clientId",
    "channelGrouping",
    "socialEngagementType",
]
SAMPLE_GA = (
    Path(__file__).resolve().parents[2]
    / "shared/samples/aws-c360/ga/ga_sessions_20170729/ga_sessions_20170729.json"
)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulationSummary, list[tuple[str, int]]]:
    calls: list[tuple[str, int]] = []
    out = tmp_path_factory.mktemp("sim")
    summary = generate(CUSTOMERS, SEED, out, progress=lambda step, rows: calls.append((step, rows)))
    return summary, calls


@pytest.fixture(scope="module")
def out(sim: tuple[SimulationSummary, list[tuple[str, int]]]) -> Path:
    return sim[0].out


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8-sig").splitlines()


def _csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def _dirt(out: Path) -> dict[tuple[str, str], set[int]]:
    """(file, kind) -> line numbers listed in _truth/dirt.csv."""
    found: dict[tuple[str, str], set[int]] = defaultdict(set)
    for row in csv.DictReader((out / "_truth/dirt.csv").open(encoding="utf-8")):
        found[(row["file"], row["kind"])].add(int(row["line"]))
    return found


def _malformed(out: Path, rel: str) -> set[int]:
    d = _dirt(out)
    kinds = ("malformed_too_few_fields", "malformed_extra_field", "malformed_truncated")
    return set().union(*(d.get((rel, k), set()) for k in kinds))


def _truth_keys(out: Path) -> dict[str, set[str]]:
    keys: dict[str, set[str]] = defaultdict(set)
    for row in csv.DictReader((out / "_truth/records.csv").open(encoding="utf-8")):
        keys[row["source"]].add(row["record_key"])
    return keys


def _files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    a = generate(400, 11, tmp_path / "a")
    b = generate(400, 11, tmp_path / "b")
    c = generate(400, 12, tmp_path / "c")
    rel_a = [p.relative_to(a.out) for p in _files(a.out)]
    assert rel_a == [p.relative_to(b.out) for p in _files(b.out)]
    for rel in rel_a:
        assert (a.out / rel).read_bytes() == (b.out / rel).read_bytes(), rel
    assert a.rows == b.rows
    differing = [
        rel
        for rel in rel_a
        if (c.out / rel).exists() and (a.out / rel).read_bytes() != (c.out / rel).read_bytes()
    ]
    assert Path("crm/clients.jsonl") in differing
    assert Path("_truth/records.csv") in differing
    assert len(differing) >= len(rel_a) - 2  # LAYOUT.txt alone is the same for every seed


# --- layout and summary --------------------------------------------------------------------------


def test_every_file_of_the_layout_exists(out: Path) -> None:
    for rel in (
        "crm/clients.jsonl",
        "web_visitors/ga_visitors.csv",
        "retail/retail_orders.csv",
        "retail/retail_orders_2.csv",
        "store_users/store_users.csv",
        "cards/LAYOUT.txt",
        "_truth/records.csv",
        "_truth/attacks.csv",
        "_truth/dirt.csv",
        "_truth/summary.json",
    ):
        assert (out / rel).is_file(), rel
    for folder, pattern in (
        ("accounts", r"account_\d{8}\.csv"),
        ("cards", r"card_\d{8}\.txt"),
        ("dispositions", r"disp_\d{8}\.csv"),
        ("web_sessions", r"ga_sessions_\d{8}\.json"),
        ("clickstream", r"events_\d{8}\.csv"),
    ):
        names = [p.name for p in (out / folder).iterdir() if p.name != "LAYOUT.txt"]
        assert len(names) >= 4 and all(re.fullmatch(pattern, n) for n in names), (folder, names)


def test_summary_counts_match_the_files_and_progress_saw_every_source(
    sim: tuple[SimulationSummary, list[tuple[str, int]]],
) -> None:
    summary, calls = sim
    assert [step for step, _ in calls] == list(SOURCES)
    assert dict(calls) == summary.rows
    header = {"retail_orders": 1, "store_users": 1, "clickstream": 1}
    for source, paths in summary.files.items():
        lines = sum(len(_lines(p)) - header.get(source, 0) for p in paths)
        assert lines == summary.rows[source], source
    saved = json.loads((summary.out / "_truth/summary.json").read_text())
    assert saved["seed"] == SEED and saved["customers"] == CUSTOMERS
    assert saved["rows"] == summary.rows
    assert summary.seconds > 0 and summary.attacks == saved["attack_episodes"] >= 6


# --- CRM ---------------------------------------------------------------------------------------


def test_crm_records_are_json_with_the_crm_fields_and_updates(out: Path) -> None:
    records = [json.loads(line) for line in _lines(out / "crm/clients.jsonl")]
    assert all(list(r) == CRM_FIELDS for r in records)
    ids = [r["client_id"] for r in records]
    assert min(ids) == 5000 and len(set(ids)) == CUSTOMERS == max(ids) - 4999
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", r["client_created_date"]) for r in records
    )
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", r["updated_at"]) for r in records)
    by_id: dict[int, list[dict]] = defaultdict(list)
    for r in records:
        by_id[r["client_id"]].append(r)
    updates = 0
    for versions in by_id.values():
        distinct = {json.dumps(v, sort_keys=True) for v in versions}
        if len(distinct) > 1:
            ordered = sorted(versions, key=lambda v: v["updated_at"])
            changed = {k for k in CRM_FIELDS if ordered[0][k] != ordered[-1][k]} - {"updated_at"}
            assert changed, versions
            updates += 1
    assert updates > CUSTOMERS * 0.03
    codes = Counter(r["home_ownership"] for r in records)
    assert set(codes) <= {"O", "R", "U", "X"} and codes["X"] >= 1
    assert Counter(type(r["age"]).__name__ for r in records)["str"] >= 1  # a wrong type
    assert any(r["email"] is None for r in records) and any(r["phone"] is None for r in records)


def test_crm_holds_the_hard_identity_cases(out: Path) -> None:
    records = [json.loads(line) for line in _lines(out / "crm/clients.jsonl")]
    first = {r["client_id"]: r for r in reversed(records)}.values()  # the original of each client
    twins = Counter((r["last_name"], r["birth_date"], r["address"], r["city"]) for r in first)
    assert any(n >= 2 for n in twins.values()), "no twins (same surname, birth date and address)"
    emails = Counter(r["email"] for r in first if r["email"])
    assert any(n >= 2 for n in emails.values()), "no e-mail shared by two clients"
    by_id: dict[int, list[dict]] = defaultdict(list)
    for r in records:
        by_id[r["client_id"]].append(r)
    renamed = [v for v in by_id.values() if len({x["last_name"] for x in v}) > 1]
    assert renamed, "no married-name change among the CRM updates"
    truth = defaultdict(set)
    for row in csv.DictReader((out / "_truth/records.csv").open()):
        if row["source"] == "crm":
            truth[row["person_id"]].add(row["record_key"])
    assert any(len(ids) == 2 for ids in truth.values()), "nobody registered twice"


# --- mainframe extracts ------------------------------------------------------------------------


def test_account_and_disposition_extracts_are_headerless_csv(out: Path) -> None:
    for folder, width, codes, col in (
        ("accounts", 4, {"MI", "WI", "TI"}, 2),
        ("dispositions", 4, {"owner", "user"}, 3),
    ):
        seen = Counter()
        n_accounts = 0
        for path in sorted((out / folder).glob("*.csv")):
            rel = path.relative_to(out).as_posix()
            broken = _malformed(out, rel)
            for number, row in enumerate(_csv_rows(path), start=1):
                assert row[0].isdigit(), (rel, number, row)  # account_id always first, always an integer
                if number in broken:
                    assert len(row) != width, (rel, number)
                    continue
                assert len(row) == width, (rel, number, row)
                seen[row[col]] += 1
                n_accounts += 1
        assert codes <= set(seen), folder
        unknown = set(seen) - codes
        assert unknown == ({"XI"} if folder == "accounts" else {"disponent"}), unknown
        assert n_accounts > CUSTOMERS * 1.5  # about two accounts per client


def test_account_dates_look_like_the_reference_and_some_are_impossible(out: Path) -> None:
    con = duckdb.connect()
    rows = con.execute(
        f"select column3 from read_csv('{out}/accounts/account_20240520.csv', header=false,"
        " all_varchar=true, ignore_errors=true,"
        " columns={'column0':'varchar','column1':'varchar','column2':'varchar','column3':'varchar'})"
    ).fetchall()
    values = [r[0] for r in rows if r[0]]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", v) for v in values)
    assert any("-02-30T" in v for v in values)


def test_cards_are_fixed_width_with_the_layout(out: Path) -> None:
    width = record_width(CARD_LAYOUT)
    assert width == sum(w for _, _, w in CARD_LAYOUT) == 62
    layout_txt = (out / "cards/LAYOUT.txt").read_text()
    for name, start, w in CARD_LAYOUT:
        assert re.search(rf"^{name}\s+{start}\s+{w}\s", layout_txt, re.M), name
    types: Counter[str] = Counter()
    per_disp: Counter[str] = Counter()
    checked = 0
    for path in sorted((out / "cards").glob("card_*.txt")):
        rel = path.relative_to(out).as_posix()
        truncated = _dirt(out).get((rel, "malformed_truncated"), set())
        for number, line in enumerate(_lines(path), start=1):
            if number in truncated:
                assert len(line) < width
                continue
            assert len(line) == width, (rel, number, line)
            fields = {name: line[start - 1 : start - 1 + w] for name, start, w in CARD_LAYOUT}
            card = fields["card_id"]
            assert card.isdigit() and card[0] in "45"
            digits = [int(c) for c in card]
            luhn = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
            assert luhn % 10 == 0, card
            types[fields["type"].strip()] += 1
            per_disp[fields["disp_id"]] += 1
            checked += 1
    assert {"junior", "classic", "gold", "platinum"} <= set(types)
    assert types["platinum"] < checked * 0.01
    assert max(per_disp.values()) >= 4  # many cards for some dispositions


def test_late_records_arrive_in_later_daily_extracts(out: Path) -> None:
    d = _dirt(out)
    late_files = {f for (f, kind) in d if kind == "late_arriving" and f.startswith("accounts/")}
    assert late_files == {f"accounts/account_2024052{k}.csv" for k in (1, 2, 3)}
    first_day = {int(r[0]) for r in _csv_rows(out / "accounts/account_20240520.csv")}
    rel = "accounts/account_20240523.csv"
    late_lines = d[(rel, "late_arriving")]
    rows = _csv_rows(out / rel)
    for number in late_lines:
        assert rows[number - 1][3] < "2024-05-22T06:40:13.494626", rows[number - 1]  # created two days before
    on_time = [int(r[0]) for n, r in enumerate(rows, start=1) if n not in late_lines]
    assert min(on_time) > max(first_day)  # ids follow creation; only late records are older


# --- web -------------------------------------------------------------------------------------------


def test_ga_sessions_have_the_reference_shape(out: Path) -> None:
    sample = json.loads(SAMPLE_GA.read_text().splitlines()[0]) if SAMPLE_GA.exists() else None
    sessions = 0
    placeholders = 0
    for path in sorted((out / "web_sessions").glob("*.json")):
        rel = path.relative_to(out).as_posix()
        truncated = _dirt(out).get((rel, "malformed_truncated"), set())
        for number, line in enumerate(_lines(path), start=1):
            if number in truncated:
                with pytest.raises(json.JSONDecodeError):
                    json.loads(line)
                continue
            s = json.loads(line)
            assert list(s) == GA_KEYS
            assert s["visitId"] == s["visitStartTime"] and s["visitorId"] is None
            assert s["totals"]["hits"] == len(s["hits"]) >= 1
            assert [h["hitNumber"] for h in s["hits"]] == list(range(1, len(s["hits"]) + 1))
            assert s["totals"]["bounces"] == (1 if len(s["hits"]) == 1 else None)
            if sample is not None:
                assert list(s["hits"][0]) == list(sample["hits"][0])
                assert list(s["device"]) == list(sample["device"]) and list(s["totals"]) == list(
                    sample["totals"]
                )
            placeholders += line.count("not available in demo dataset")
            sessions += 1
    assert sessions > CUSTOMERS * 0.15 and placeholders > sessions * 10


def test_visitor_map_is_many_to_many_and_linked_to_sessions(out: Path) -> None:
    rel = "web_visitors/ga_visitors.csv"
    broken = _malformed(out, rel)
    pairs = [r for n, r in enumerate(_csv_rows(out / rel), start=1) if n not in broken]
    assert all(len(r) == 2 and r[0].isdigit() and r[1].isdigit() for r in pairs)
    per_visitor = Counter(r[0] for r in set(map(tuple, pairs)))
    per_client = Counter(r[1] for r in set(map(tuple, pairs)))
    assert max(per_visitor.values()) >= 2 and max(per_client.values()) >= 2
    crm_ids = {str(json.loads(line)["client_id"]) for line in _lines(out / "crm/clients.jsonl")}
    assert {r[1] for r in pairs} <= crm_ids
    session_visitors = set()
    for path in (out / "web_sessions").glob("*.json"):
        session_visitors |= set(re.findall(r'"fullVisitorId":"(\d+)"', path.read_text()))
    assert {r[0] for r in pairs} & session_visitors


# --- retail ----------------------------------------------------------------------------------------


def test_retail_has_bom_header_impossible_dates_and_person_contacts(out: Path) -> None:
    raw = (out / "retail/retail_orders.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfRow_ID,Order_ID,")
    rows = _csv_rows(out / "retail/retail_orders.csv")
    assert rows[0] == RETAIL_COLUMNS
    broken = _malformed(out, "retail/retail_orders.csv")
    data = [r for n, r in enumerate(rows[1:], start=2) if n not in broken]
    assert all(len(r) == len(RETAIL_COLUMNS) for r in data)
    col = {name: i for i, name in enumerate(RETAIL_COLUMNS)}
    dates = [r[col["Order_Date"]] for r in data]
    assert sum(d.startswith("50/") for d in dates) > len(data) * 0.03  # October written as month 50
    assert all(re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", d) for d in dates)
    ids = [r[col["client_id"]] for r in data]
    assert 0.1 < sum(1 for i in ids if i) / len(ids) < 0.9
    phones = [r[col["Contact_Phone"]] for r in data if r[col["Contact_Phone"]]]
    assert any(p.startswith("+") and " " not in p for p in phones)  # E.164
    assert any(re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", p) for p in phones)
    assert any(re.fullmatch(r"\d{3}\.\d{3}\.\d{4}", p) for p in phones)
    assert any(", " in r[col["Contact_Name"]] for r in data)  # "Last, First"
    assert any(r[col["Quantity"]].endswith(" units") for r in data)  # text in a numeric column
    con = duckdb.connect()
    n = con.execute(
        f"select count(*) from read_csv('{out}/retail/retail_orders.csv', header=true, all_varchar=true,"
        " ignore_errors=true)"
    ).fetchone()[0]
    assert n >= len(data) - 5


def test_second_retail_batch_drifts(out: Path) -> None:
    first = _csv_rows(out / "retail/retail_orders.csv")[0]
    rows = _csv_rows(out / "retail/retail_orders_2.csv")
    second = rows[0]
    assert (out / "retail/retail_orders_2.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert set(second) - set(first) == {"Channel", "Email"}
    assert set(first) - set(second) == {"Contact_Email"}
    q = second.index("Quantity")
    quantities = [r[q] for r in rows[1:] if len(r) == len(second) and not r[q].endswith("units")]
    assert quantities and all(re.fullmatch(r"\d+\.\d", v) for v in quantities)
    assert any(not v.endswith(".0") for v in quantities)
    first_ids = {r[0] for r in _csv_rows(out / "retail/retail_orders.csv")[1:]}
    assert not first_ids & {r[0] for r in rows[1:]}  # Row_ID continues across batches


# --- store users and clickstream -------------------------------------------------------------------


def test_store_users_type_the_same_people_differently(out: Path) -> None:
    rows = _csv_rows(out / "store_users/store_users.csv")
    assert rows[0] == ["user_id", "full_name", "email", "phone", "city", "signup_date"]
    broken = _malformed(out, "store_users/store_users.csv")
    data = [r for n, r in enumerate(rows[1:], start=2) if n not in broken]
    assert all(len(r) == 6 and r[0].isdigit() for r in data)
    crm = [json.loads(line) for line in _lines(out / "crm/clients.jsonl")]
    crm_emails = {r["email"] for r in crm if r["email"]}
    store_emails = {r[2] for r in data if r[2]}
    assert len(crm_emails & store_emails) > 20  # the same people
    assert any(r[1].isupper() for r in data)
    names = {r[1].split(" ")[0] for r in data}
    assert names & {"Bob", "Bill", "Mike", "Liz", "Kate", "Jim", "Tom", "Chris", "Alex", "Sam", "Dan", "Jen"}


def test_clickstream_has_rees46_columns_funnels_and_attacks(out: Path) -> None:
    events: list[dict[str, str]] = []
    for path in sorted((out / "clickstream").glob("events_*.csv")):
        rel = path.relative_to(out).as_posix()
        broken = _malformed(out, rel)
        rows = _csv_rows(path)
        assert rows[0] == EVENT_COLUMNS
        for number, row in enumerate(rows[1:], start=2):
            if number in broken:
                assert len(row) < len(EVENT_COLUMNS)
                continue
            events.append(dict(zip(EVENT_COLUMNS, row, strict=True)))
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", e["event_time"]) for e in events)
    kinds = Counter(e["event_type"] for e in events)
    assert set(kinds) == {"view", "cart", "remove_from_cart", "purchase"}
    assert kinds["view"] > kinds["cart"] > kinds["purchase"] > 0
    attacks = list(csv.DictReader((out / "_truth/attacks.csv").open()))
    assert {a["kind"] for a in attacks} == {
        "bot_crawler",
        "bot_cart_churn",
        "flood_user",
        "flood_session",
        "flood_ip",
        "flood_distributed",
    }
    column = {"ip": "ip", "user_id": "user_id", "user_session": "user_session", "product_id": "product_id"}
    for a in attacks:
        hits = [
            e
            for e in events
            if e[column[a["key_type"]]] == a["key_value"] and a["start"] <= e["event_time"] <= a["end"]
        ]
        assert len(hits) >= 35, a
        if a["kind"] == "bot_crawler":
            assert all(
                "bot" in e["user_agent"].lower()
                or "requests" in e["user_agent"]
                or "curl" in e["user_agent"]
                or "Scrapy" in e["user_agent"]
                for e in hits
            )
            assert all(e["event_type"] == "view" for e in hits)
        if a["kind"] == "flood_distributed":
            assert len({e["ip"] for e in hits}) >= 30
    d = _dirt(out)
    assert any(kind == "late_arriving" and f.startswith("clickstream/") for f, kind in d)
    assert any(kind == "out_of_order" and f.startswith("clickstream/") for f, kind in d)


def test_clickstream_reads_with_duckdb(out: Path) -> None:
    con = duckdb.connect()
    got = con.execute(
        "select count(*), count(distinct user_session), min(event_time)"
        f" from read_csv('{out}/clickstream/*.csv', header=true, all_varchar=true, ignore_errors=true)"
    ).fetchone()
    assert got[0] > 1000 and got[1] > 100 and got[2].startswith("2024-05-16")


# --- ground truth ----------------------------------------------------------------------------------


def test_truth_covers_every_person_bearing_record(out: Path) -> None:
    truth = _truth_keys(out)
    crm = {str(json.loads(line)["client_id"]) for line in _lines(out / "crm/clients.jsonl")}
    assert truth["crm"] == crm
    disp = set()
    for path in (out / "dispositions").glob("*.csv"):
        disp |= {r[1] for r in _csv_rows(path) if len(r) > 1}
    assert truth["dispositions"] == disp
    retail = set()
    for name in ("retail_orders.csv", "retail_orders_2.csv"):
        retail |= {r[0] for r in _csv_rows(out / "retail" / name)[1:]}
    assert truth["retail_orders"] == retail
    assert truth["store_users"] == {r[0] for r in _csv_rows(out / "store_users/store_users.csv")[1:]}
    visitors = {r[0] for r in _csv_rows(out / "web_visitors/ga_visitors.csv")}
    for path in (out / "web_sessions").glob("*.json"):
        visitors |= set(re.findall(r'"fullVisitorId":"(\d+)"', path.read_text()))
    assert truth["web_visitors"] == visitors


def test_truth_never_appears_in_the_data(out: Path) -> None:
    people = {row["person_id"] for row in csv.DictReader((out / "_truth/records.csv").open())}
    assert people and all(re.fullmatch(r"P\d{9}", p) for p in people)
    for path in _files(out):
        if "_truth" in path.parts:
            continue
        content = path.read_text(encoding="utf-8-sig")
        assert "person_id" not in content, path
        assert not set(re.findall(r"P\d{9}", content)) & people, path


def test_dirt_log_points_at_real_lines(out: Path) -> None:
    rows = list(csv.DictReader((out / "_truth/dirt.csv").open()))
    kinds = Counter(r["kind"] for r in rows)
    for kind in (
        "duplicate",
        "null",
        "impossible_date",
        "wrong_type",
        "unknown_code",
        "late_arriving",
        "malformed_too_few_fields",
        "malformed_extra_field",
        "malformed_truncated",
        "update",
    ):
        assert kinds[kind] >= 1, kind
    cache: dict[str, list[str]] = {}
    for r in rows:
        lines = cache.setdefault(r["file"], _lines(out / r["file"]))
        line = int(r["line"])
        assert 1 <= line <= len(lines), r
        if r["kind"] == "duplicate":
            assert lines[line - 1] in lines[: line - 1], r  # an exact copy of an earlier line
