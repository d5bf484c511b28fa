"""Golden tests of the built-in customer-360 models, on a bank, a web site and a shop made by hand.

Six CRM clients, five accounts, six dispositions, five cards, twelve movements, four web sessions
with their hits and the visitor login map, and a few retail order lines are written straight into
the stage tables (columns as declared by the stage contracts), every built-in model is built with
the framework, and every value of every dimension is compared with a value worked out by hand.

The snapshot date is 2024-06-30 (the last movement and the last card issue), so the cut-offs are
2024-04-01 (90 days), 2024-03-30 (3 months) and 2023-12-30 (6 months).

The cases, with the reference system's bugs they guard against:

- client 1 (Ana): two CRM versions, the newer one staged first; in the last 3 months 2 credits and
  1 debit (debits_3m = 1: the reference counted debits from the credit rows); a user right on
  client 2's account (a product, not her money); 3 dispositions whose highest disp_id is not the
  latest (the last disposition is the account opened last); movements dated exactly on the 3- and
  6-month cut-offs; a tie between two home branches.
- client 2 (Bruno): 2 dispositions, the last one not the first (the reference wrote the first
  disposition into its last-disposition table); an account overdrawn now; falling volume.
- client 3 (Chen): two browsers, one of them shared with client 4, and the login row of the other
  sent twice; a session with 3 hits (hits counted once, sessions 1, pageviews not multiplied: the
  reference summed session totals after unnesting the hits and fanned out through the map).
- client 4 (Dana): two CRM versions without updated_at (the one staged last wins); the shared
  browser only; one order with two products tied on orders and revenue.
- client 5 (Eve): in the CRM and nowhere else: a row of zeros and nulls in every dimension.
- client 6 (Finn): one account with a stable volume, a movement on the 90-day cut-off, a country
  outside the region mapping.
- customer 7 (Gus): no CRM client at all; identity resolution (its tables are written here by
  hand, as the identity step would) gave him an order line without client_id and an order line
  carrying a wrong client_id (999, unknown to the CRM). He is a customer like the others: in every
  dimension, in the RFM ranks and the value tiers, with unknown age and CRM-only attributes null.
- noise that must not count: a browser mapped to nobody.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from c360.config import Project, load_project
from c360.lake.catalog import open_catalog
from c360.lake.tables import append_rows, ensure_table, load_table
from c360.modeling import build, load_models
from c360.stage.contract import Contract, load_contract
from tests.projects import write_project

SNAPSHOT = date(2024, 6, 30)
B1 = "20240601T000000000000-000001"  # batch ids sort in staging order
B2 = "20240701T000000000000-000002"

ARROW_TYPES = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "varchar": pa.string(),
    "json": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}
FRAMEWORK_COLUMNS = [("_c360_batch_id", pa.string()), ("_c360_record", pa.int64())]


def arrow_type(declared: str) -> pa.DataType:
    if declared.startswith("decimal"):
        precision, scale = declared.removeprefix("decimal(").removesuffix(")").split(",")
        return pa.decimal128(int(precision), int(scale))
    return ARROW_TYPES[declared]


def stage_schema(source: str, table: str | None = None) -> pa.Schema:
    """The stage table of ``source`` as its contract declares it (``table``: an exploded table)."""
    contract = load_contract(source, Path("."))
    assert isinstance(contract, Contract)
    if table is None:
        columns = [(c.name, arrow_type(c.type)) for c in contract.columns]
    else:
        exploded = next(t for t in contract.tables if t.name == table)
        parents = [(name, arrow_type(contract.column(name).type)) for name in exploded.parent]
        columns = parents + [(c.name, arrow_type(c.type)) for c in exploded.columns]
    return pa.schema(columns + FRAMEWORK_COLUMNS)


def write_stage(project: Project, name: str, rows: list[dict], source: str | None = None) -> None:
    """Append ``rows`` to stage.<name>; columns a row leaves out are null."""
    schema = stage_schema(source or name, name if source else None)
    for number, row in enumerate(rows, start=1):
        unknown = set(row) - set(schema.names)
        assert not unknown, f"stage.{name} has no column {unknown}"
        row.setdefault("_c360_batch_id", B1)
        row.setdefault("_c360_record", number)
    data = pa.Table.from_pylist(rows, schema=schema)
    append_rows(ensure_table(open_catalog(project), f"stage.{name}", schema), data)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def d(text: str) -> date:
    return date.fromisoformat(text)


def crm(client_id: int, first: str, born: str, created: str, **fields: object) -> dict:
    return {
        "client_id": client_id,
        "first_name": first,
        "last_name": f"{first}son",
        "email": f"{first.lower()}@example.com",
        "phone": f"+1555000000{client_id}",
        "address": f"{client_id} Main Street",
        "birth_date": d(born),
        "age": 0,  # the CRM's export-time age; the models compute the age at the snapshot date
        "client_created_date": ts(created),
        **fields,
    }


# fmt: off
CRM = [
    # client 1: the version updated last wins even though the older version was staged after it
    crm(1, "Ana", "1990-07-15", "2020-03-01T10:00:00", city="Porto", country="Portugal",
        home_ownership="own", occupation=" Dentist ", marital_status="married", head_of_household_flag=True,
        updated_at=ts("2024-01-01T12:00:00"), _c360_batch_id=B1, _c360_record=1),
    crm(1, "Ana", "1990-07-15", "2020-03-01T10:00:00", city="Lisbon", country="Portugal",
        home_ownership="rent", occupation="dentist", marital_status="single", head_of_household_flag=False,
        updated_at=ts("2023-01-01T12:00:00"), _c360_batch_id=B2, _c360_record=1),
    crm(2, "Bruno", "1950-06-30", "2019-11-11T09:00:00", city="Recife", country="Brazil",
        home_ownership="rent", occupation="lawyer", marital_status="divorced", head_of_household_flag=False,
        _c360_batch_id=B1, _c360_record=2),
    crm(3, "Chen", "2000-01-31", "2023-07-01T08:00:00", city="Osaka", country="Japan",
        home_ownership="unknown", occupation="student", marital_status="single", head_of_household_flag=False,
        _c360_batch_id=B1, _c360_record=3),
    # client 4: no updated_at on either version, so the one staged last (batch B2) wins
    crm(4, "Dana", "1980-12-31", "2022-02-02T12:00:00", city="Austin", country="United States",
        home_ownership="rent", occupation="engineer", marital_status="single", head_of_household_flag=False,
        _c360_batch_id=B1, _c360_record=4),
    crm(4, "Dana", "1980-12-31", "2022-02-02T12:00:00", city="Dallas", country="United States",
        home_ownership="own", occupation="engineer", marital_status="married", head_of_household_flag=True,
        _c360_batch_id=B2, _c360_record=2),
    crm(5, "Eve", "2008-01-01", "2024-06-01T15:00:00", city=None, country=None,
        home_ownership="unknown", occupation=None, marital_status="single", head_of_household_flag=False,
        _c360_batch_id=B1, _c360_record=5),
    crm(6, "Finn", "1969-01-01", "2024-01-15T11:00:00", city="Poseidonia", country="Atlantis",
        home_ownership="own", occupation="fisherman", marital_status="married", head_of_household_flag=True,
        _c360_batch_id=B1, _c360_record=6),
]
# fmt: on

# (account, branch, statement frequency, opened)
ACCOUNTS = [
    (100, 7, "monthly", "2020-03-05T09:00:00"),
    (101, 4, "weekly", "2022-01-10T09:00:00"),
    (200, 3, "monthly", "2021-06-01T09:00:00"),
    (201, 3, "after_transaction", "2023-02-02T09:00:00"),
    (300, 9, "monthly", "2024-01-20T09:00:00"),
]

DISPOSITIONS = [
    {"account_id": 100, "disp_id": 1, "client_id": 1, "type": "owner"},
    {"account_id": 101, "disp_id": 2, "client_id": 1, "type": "owner"},
    {"account_id": 200, "disp_id": 3, "client_id": 2, "type": "owner"},
    {"account_id": 201, "disp_id": 4, "client_id": 2, "type": "owner"},
    {"account_id": 200, "disp_id": 5, "client_id": 1, "type": "user"},
    {"account_id": 300, "disp_id": 6, "client_id": 6, "type": "owner"},
]

# (card, disposition, type, issued)
CARDS = [
    ("4000000000000001", 1, "classic", "2020-04-01T10:00:00"),
    ("4000000000000002", 1, "gold", "2023-09-09T10:00:00"),
    ("4000000000000003", 5, "classic", "2021-07-01T10:00:00"),  # on Ana's user right
    ("4000000000000004", 4, "gold", "2024-06-30T10:00:00"),  # issued on the snapshot date
    ("4000000000000005", 6, "junior", "2024-02-01T10:00:00"),
]

OPERATIONS = {"credit": "CAB", "debit": "WCA"}
# (trans_id, account, when, type, amount, balance after), trans_id in time order
MOVEMENTS = [
    (1, 101, "2023-06-01T10:00:00", "debit", 50, -50),  # older than 6 months; an overdrawn day
    (2, 101, "2023-12-30T10:00:00", "credit", 20, -30),  # on the 6-month cut-off: not in the 6 months
    (3, 201, "2024-02-01T08:00:00", "credit", 1000, 1000),
    (4, 300, "2024-02-01T10:00:00", "credit", 1000, 1000),
    (5, 101, "2024-02-10T10:00:00", "credit", 100, 70),
    (6, 101, "2024-03-30T23:00:00", "debit", 10, 60),  # on the 3-month cut-off: previous 3 months
    (7, 300, "2024-04-01T12:00:00", "debit", 50, 950),  # on the 90-day cut-off: not in the 90 days
    (8, 100, "2024-05-10T10:00:00", "credit", 1000, 1000),
    (9, 300, "2024-05-10T11:00:00", "credit", 1000, 1950),
    (10, 100, "2024-06-01T10:00:00", "credit", 500, 1500),
    (11, 100, "2024-06-15T10:00:00", "debit", 300, 1200),
    (12, 200, "2024-06-20T12:00:00", "debit", 700, -200),
    (13, 200, "2024-06-30T09:00:00", "debit", 100, -300),
]

WEB_VISITORS = [
    {"full_visitor_id": "111", "client_id": 3},
    {"full_visitor_id": "111", "client_id": 3, "_c360_batch_id": B2},  # the login sent twice
    {"full_visitor_id": "222", "client_id": 3},  # a browser shared by clients 3 and 4
    {"full_visitor_id": "222", "client_id": 4},
    {"full_visitor_id": "444", "client_id": 999},  # a client unknown to the CRM
]


def session(visitor: str, visit: int, day: str, **fields: object) -> dict:
    return {
        "full_visitor_id": visitor,
        "visit_id": visit,
        "visit_number": 1,
        "visit_start_time": visit,
        "visit_date": d(day),
        "visits": 1,
        "channel_grouping": "Organic Search",
        **fields,
    }


# fmt: off
WEB_SESSIONS = [
    session("111", 1001, "2024-06-10", total_hits=3, pageviews=3, time_on_site=120,
            device_category="desktop", traffic_source="google"),
    session("111", 1002, "2024-06-12", total_hits=1, pageviews=1, bounces=1,
            device_category="mobile", traffic_source="(direct)"),
    session("222", 2001, "2024-06-20", total_hits=2, pageviews=1, time_on_site=30,
            device_category="tablet", traffic_source="google"),
    session("333", 3001, "2024-06-21", total_hits=1, pageviews=1, bounces=1,
            device_category="desktop", traffic_source="bing"),  # a browser mapped to nobody
]
# fmt: on

# (visitor, visit, hit number, type, page path)
HITS = [
    ("111", 1001, 1, "PAGE", "/home"),
    ("111", 1001, 2, "PAGE", "/cards"),
    ("111", 1001, 3, "PAGE", "/home"),
    ("111", 1002, 1, "PAGE", "/home"),
    ("222", 2001, 1, "PAGE", "/cards"),
    ("222", 2001, 2, "EVENT", "/cards"),
    ("333", 3001, 1, "PAGE", "/loans"),
]

# (row, order, day, client, product, sales, discount, profit)
ORDER_LINES = [
    (1, "A-1", "2024-06-01", 1, "FinanceHub", "100.00", "0.10", "10.00"),
    (2, "A-1", "2024-06-01", 1, "OneView", "50.00", "0.00", "5.00"),
    (3, "A-2", "2023-01-10", 1, "FinanceHub", "200.00", "0.00", "20.00"),
    (4, "B-1", "2024-06-25", 3, "OneView", "80.00", "0.20", "-5.00"),
    (5, "C-1", "2022-05-05", 4, "Data Smasher", "500.00", "0.00", "100.00"),
    (6, "C-1", "2022-05-05", 4, "ContactMatcher", "500.00", "0.00", "90.00"),
    (7, "D-1", "2024-06-02", None, "OneView", "999.00", "0.00", "99.00"),  # no client: resolved to Gus
    (8, "E-1", "2024-06-28", 999, "OneView", "10.00", "0.00", "1.00"),  # wrong client: resolved to Gus
]

# What the identity step would have written: CRM client n is customer n, the order lines go to
# their client's customer, and both lines 7 and 8 to Gus (customer 7, a retail contact only).
RETAIL_CUSTOMER = {row: client if client in range(1, 7) else 7 for row, _, _, client, *_ in ORDER_LINES}
GOLDEN_FIELDS = ("first_name", "last_name", "email", "phone", "address", "city", "country", "birth_date")


SITE = {
    "country": "France",
    "city": "Lyon",
    "region": "EMEA",
    "subregion": "EU-WEST",
    "customer": "Acme",
    "industry": "Tech",
    "segment": "SMB",
}


def write_identity(project: Project) -> None:
    """identity.record_customers and identity.golden, as the identity step would write them."""
    catalog = open_catalog(project)
    records = [("crm", str(c), c) for c in range(1, 7)]
    records += [("retail_orders", str(row), customer) for row, customer in RETAIL_CUSTOMER.items()]
    schema = pa.schema(
        [("record_id", pa.string()), ("source", pa.string()), ("record_key", pa.string()),
         ("customer_id", pa.int64()), ("assigned_at", pa.timestamp("us"))]
    )  # fmt: skip
    rows = [
        {"record_id": f"{source}:{key}", "source": source, "record_key": key, "customer_id": customer,
         "assigned_at": ts("2024-06-30T00:00:00")}
        for source, key, customer in records
    ]  # fmt: skip
    append_rows(
        ensure_table(catalog, "identity.record_customers", schema), pa.Table.from_pylist(rows, schema)
    )
    latest = {
        row["client_id"]: row
        for row in sorted(CRM, key=lambda row: row.get("updated_at") or ts("1970-01-01"))
    }
    gus = {"first_name": "Gus", "last_name": "Gusson", "email": "gus@example.com", "phone": None,
           "address": None, "city": "Lyon", "country": "France", "birth_date": None}  # fmt: skip
    golden = [
        {"customer_id": c, "client_id": c, **{f: latest[c].get(f) for f in GOLDEN_FIELDS}} for c in latest
    ]
    golden.append({"customer_id": 7, "client_id": None, **gus})
    for row in golden:
        for field in GOLDEN_FIELDS:
            row[f"{field}_source"] = "crm" if row["client_id"] else "retail_orders"
    columns = [("customer_id", pa.int64()), ("client_id", pa.int64())]
    columns += [(f, pa.date32() if f == "birth_date" else pa.string()) for f in GOLDEN_FIELDS]
    columns += [(f"{f}_source", pa.string()) for f in GOLDEN_FIELDS]
    schema = pa.schema(columns)
    append_rows(ensure_table(catalog, "identity.golden", schema), pa.Table.from_pylist(golden, schema))


def write_golden_stage(project: Project) -> None:
    write_identity(project)
    write_stage(project, "crm", CRM)
    write_stage(
        project,
        "accounts",
        [
            {"account_id": a, "branch_id": branch, "frequency": frequency, "date_of_creation": ts(opened)}
            for a, branch, frequency, opened in ACCOUNTS
        ],
    )
    write_stage(project, "dispositions", DISPOSITIONS)
    write_stage(
        project,
        "cards",
        [
            {"card_id": card, "disp_id": disp, "type": kind, "issued_datetime": ts(issued)}
            for card, disp, kind, issued in CARDS
        ],
    )
    write_stage(
        project,
        "transactions",
        [
            {
                "trans_id": i,
                "account_id": a,
                "trans_datetime": ts(when),
                "type": kind,
                "operation": OPERATIONS[kind],
                "amount": amount,
                "balance": balance,
            }
            for i, a, when, kind, amount, balance in MOVEMENTS
        ],
    )
    write_stage(project, "web_visitors", WEB_VISITORS)
    write_stage(project, "web_sessions", WEB_SESSIONS)
    write_stage(
        project,
        "web_session_hits",
        [
            {
                "full_visitor_id": v,
                "visit_id": s,
                "hit_number": n,
                "hit_time": 1000 * n,
                "type": kind,
                "page_path": path,
            }
            for v, s, n, kind, path in HITS
        ],
        source="web_sessions",
    )
    write_stage(
        project,
        "retail_orders",
        [
            {
                **SITE,
                "row_id": row,
                "order_id": order,
                "order_date": d(day),
                "date_key": d(day),
                "client_id": client,
                "product": product,
                "license": f"LIC{row:07d}",
                "sales": Decimal(sales),
                "quantity": 1.0,
                "discount": Decimal(discount),
                "profit": Decimal(profit),
            }
            for row, order, day, client, product, sales, discount, profit in ORDER_LINES
        ],
    )
    write_stage(
        project,
        "clickstream",
        [
            {
                "event_time": ts("2024-06-29T10:00:00"),
                "event_type": "view",
                "product_id": 1,
                "category_id": 1,
                "price": Decimal("9.99"),
                "user_id": 1,
                "user_session": "s-1",
            }
        ],
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    directory = tmp_path_factory.mktemp("golden")
    write_project(directory, '[lake]\npath = "lake"\n')
    project = load_project(directory)
    write_golden_stage(project)
    build(project)
    return project


def read(project: Project, name: str) -> list[dict]:
    table = load_table(open_catalog(project), name)
    assert table is not None, name
    return sorted(table.scan().to_arrow().to_pylist(), key=lambda row: row["customer_id"])


def expected(columns: str, rows: list[tuple]) -> list[dict]:
    names = columns.split()
    assert all(len(row) == len(names) for row in rows)
    return [dict(zip(names, row, strict=True)) for row in rows]


def assert_table(project: Project, name: str, want: list[dict]) -> None:
    got = read(project, name)
    assert [row["customer_id"] for row in got] == [row["customer_id"] for row in want]
    for got_row, want_row in zip(got, want, strict=True):
        assert got_row == pytest.approx(want_row), f"{name} customer {want_row['customer_id']}"


# ---- what every customer's row must hold, worked out by hand --------------------------------------
# fmt: off

DEMOGRAPHIC = expected(
    "customer_id age age_band life_stage marital_status occupation home_ownership head_of_household",
    [
        (1, 33, "25-34", "young couple", "married", "dentist", "own", True),  # 34 on 2024-07-15
        (2, 74, "65+", "retired", "divorced", "lawyer", "rent", False),  # born on a 30 June
        (3, 24, "18-24", "student", "single", "student", "unknown", False),
        (4, 43, "35-44", "mid-life", "married", "engineer", "own", True),
        (5, 16, "under 18", "minor", "single", None, "unknown", False),
        (6, 55, "55-64", "pre-retirement", "married", "fisherman", "own", True),
        (7, None, "unknown", "unknown", None, None, None, None),  # no birth date, no CRM client
    ],
)

GEOGRAPHIC = expected(
    "customer_id city country region home_branch_id branches",
    [
        (1, "Porto", "Portugal", "Europe", 4, 2),  # one owned account in branch 7, one in 4: lowest
        (2, "Recife", "Brazil", "Latin America", 3, 1),
        (3, "Osaka", "Japan", "Asia Pacific", None, 0),
        (4, "Dallas", "United States", "North America", None, 0),
        (5, None, None, "Unknown", None, 0),
        (6, "Poseidonia", "Atlantis", "Other", 9, 1),
        (7, "Lyon", "France", "Europe", None, 0),  # from the golden record (the order's site)
    ],
)

LOYALTY = expected(
    "customer_id client_created_date tenure_days years_of_history last_transaction_date last_order_date "
    "last_visit_date last_activity_date recency_days frequency_90d products accounts cards "
    "first_acquisition_date last_acquisition_date days_since_last_acquisition dispositions "
    "first_disp_id first_disposition_account_id first_disposition_role first_disposition_date "
    "last_disp_id last_disposition_account_id last_disposition_role last_disposition_date",
    [
        (1, d("2020-03-01"), 1582, 4, d("2024-06-15"), d("2024-06-01"), None, d("2024-06-15"), 15, 3, 6, 3, 3,
         d("2020-03-05"), d("2023-09-09"), 295, 3,
         1, 100, "owner", d("2020-03-05"), 2, 101, "owner", d("2022-01-10")),
        (2, d("2019-11-11"), 1693, 4, d("2024-06-30"), None, None, d("2024-06-30"), 0, 2, 3, 2, 1,
         d("2021-06-01"), d("2024-06-30"), 0, 2,
         3, 200, "owner", d("2021-06-01"), 4, 201, "owner", d("2023-02-02")),
        (3, d("2023-07-01"), 365, 0, None, d("2024-06-25"), d("2024-06-20"), d("2024-06-25"), 5, 0, 0, 0, 0,
         None, None, None, 0, None, None, None, None, None, None, None, None),
        (4, d("2022-02-02"), 879, 2, None, d("2022-05-05"), d("2024-06-20"), d("2024-06-20"), 10, 0, 0, 0, 0,
         None, None, None, 0, None, None, None, None, None, None, None, None),
        (5, d("2024-06-01"), 29, 0, None, None, None, None, None, 0, 0, 0, 0,
         None, None, None, 0, None, None, None, None, None, None, None, None),
        (6, d("2024-01-15"), 167, 0, d("2024-05-10"), None, None, d("2024-05-10"), 51, 1, 2, 1, 1,
         d("2024-01-20"), d("2024-02-01"), 150, 1,
         6, 300, "owner", d("2024-01-20"), 6, 300, "owner", d("2024-01-20")),
        (7, None, None, None, None, d("2024-06-28"), None, d("2024-06-28"), 2, 0, 0, 0, 0,
         None, None, None, 0, None, None, None, None, None, None, None, None),
    ],
)

FINANCIAL = expected(
    "customer_id accounts accounts_owned accounts_as_user cards junior_cards classic_cards gold_cards "
    "current_balance credits_3m credit_amount_3m avg_credit_3m debits_3m debit_amount_3m avg_debit_3m "
    "credits_6m credit_amount_6m avg_credit_6m debits_6m debit_amount_6m avg_debit_6m "
    "volume_3m volume_prev_3m trend_ratio trend",
    [
        # 3 months: credits 1000 + 500, debit 300; previous 3: credit 100, debit 10; balance 1200 + 60
        (1, 3, 2, 1, 3, 0, 2, 1, 1260, 2, 1500, 750.0, 1, 300, 300.0,
         3, 1600, 533.33, 2, 310, 155.0, 1800, 110, 16.3636, "up"),
        # 3 months: debits 700 + 100; previous 3: credit 1000; balance -300 + 1000
        (2, 2, 2, 0, 1, 0, 0, 1, 700, 0, 0, None, 2, 800, 400.0,
         1, 1000, 1000.0, 2, 800, 400.0, 800, 1000, 0.8, "down"),
        (3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0, None, 0, 0, None, 0, 0, None, 0, 0, None, "inactive"),
        (4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0, None, 0, 0, None, 0, 0, None, 0, 0, None, "inactive"),
        (5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0, None, 0, 0, None, 0, 0, None, 0, 0, None, "inactive"),
        # 3 months: debit 50, credit 1000; previous 3: credit 1000 → 1050 / 1000, within 10 %
        (6, 1, 1, 0, 1, 1, 0, 0, 1950, 1, 1000, 1000.0, 1, 50, 50.0,
         2, 2000, 1000.0, 1, 50, 50.0, 1050, 1000, 1.05, "stable"),
        (7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0, None, 0, 0, None, 0, 0, None, 0, 0, None, "inactive"),
    ],
)

DIGITAL = expected(
    "customer_id sessions visitors pageviews hits time_on_site_seconds avg_time_on_site_seconds bounce_rate "
    "mobile_share desktop_share tablet_share top_traffic_source top_page_path first_visit_date "
    "last_visit_date days_since_last_visit",
    [
        # sessions 1001 (3 hits), 1002 (bounce) and 2001 (shared browser); /home has 3 page hits
        (3, 3, 2, 5, 6, 150, 50.0, 0.3333, 0.3333, 0.3333, 0.3333, "google", "/home",
         d("2024-06-10"), d("2024-06-20"), 10),
        (4, 1, 1, 1, 2, 30, 30.0, 0.0, 0.0, 0.0, 1.0, "google", "/cards",
         d("2024-06-20"), d("2024-06-20"), 10),
    ]
    + [(c, 0, 0, 0, 0, 0, *[None] * 10) for c in (1, 2, 5, 6, 7)],
)
DIGITAL.sort(key=lambda row: row["customer_id"])

NO_ORDERS = (0, 0, Decimal("0.00"), Decimal("0.00"), None, 0, *[None] * 9)
SHOPPING = expected(
    "customer_id orders order_lines revenue profit avg_order_value products_bought first_order_date "
    "last_order_date days_since_last_order recency_score frequency_score monetary_score rfm_cell "
    "favourite_product discount_affinity",
    [
        # buyers 1, 3, 4, 7: percent ranks 0, 1/3, 2/3, 1 → scores 1, 2, 4, 5 (ties share the lower)
        # recency (oldest first): 4, 1, 3, 7; frequency: 3 and 4 (1 order), 1 and 7 (2 orders);
        # monetary: 3 (80), 1 (350), 4 (1000), 7 (1009)
        (1, 2, 3, Decimal("350.00"), Decimal("35.00"), 175.0, 2, d("2023-01-10"), d("2024-06-01"), 29,
         2, 4, 2, "242", "FinanceHub", 0.3333),
        (2, *NO_ORDERS),
        (3, 1, 1, Decimal("80.00"), Decimal("-5.00"), 80.0, 1, d("2024-06-25"), d("2024-06-25"), 5,
         4, 1, 1, "411", "OneView", 1.0),
        # two products on one order with the same revenue: the alphabetically first
        (4, 1, 2, Decimal("1000.00"), Decimal("190.00"), 1000.0, 2, d("2022-05-05"), d("2022-05-05"), 787,
         1, 1, 4, "114", "ContactMatcher", 0.0),
        (5, *NO_ORDERS),
        (6, *NO_ORDERS),
        # a line without client_id and one with a wrong client_id, both resolved to Gus
        (7, 2, 2, Decimal("1009.00"), Decimal("100.00"), 504.5, 1, d("2024-06-02"), d("2024-06-28"), 2,
         5, 4, 5, "545", "OneView", 0.0),
    ],
)

VALUE = expected(
    "customer_id lifetime_value retail_revenue deposits value_tier product_holding product_families",
    [
        # values above zero, ascending: 80 (3), 700 (2), 1000 (4), 1009 (7), 1610 (1), 1950 (6) →
        # percent ranks 0, 1/5, 2/5, 3/5, 4/5, 5/5 → low, low, low, medium, high, top
        (1, Decimal("1610.00"), Decimal("350.00"), 1260, "high", "accounts:3,cards:3,retail_products:2", 3),
        (2, Decimal("700.00"), Decimal("0.00"), 700, "low", "accounts:2,cards:1,retail_products:0", 2),
        (3, Decimal("80.00"), Decimal("80.00"), 0, "low", "accounts:0,cards:0,retail_products:1", 1),
        (4, Decimal("1000.00"), Decimal("1000.00"), 0, "low", "accounts:0,cards:0,retail_products:2", 1),
        (5, Decimal("0.00"), Decimal("0.00"), 0, "none", "accounts:0,cards:0,retail_products:0", 0),
        (6, Decimal("1950.00"), Decimal("0.00"), 1950, "top", "accounts:1,cards:1,retail_products:0", 2),
        (7, Decimal("1009.00"), Decimal("1009.00"), 0, "medium", "accounts:0,cards:0,retail_products:1", 1),
    ],
)

RISK = expected(
    "customer_id has_negative_balance negative_balance_accounts negative_balance_days min_balance "
    "movements_6m amount_stddev_6m risk_level",
    [
        # amounts of the 6 months: 1000, 500, 300, 100, 10 → sample standard deviation 393.85
        (1, False, 0, 2, -50, 5, 393.85, "medium"),
        (2, True, 1, 2, -300, 3, 458.26, "high"),  # 700, 100, 1000
        (3, False, 0, 0, None, 0, None, "none"),
        (4, False, 0, 0, None, 0, None, "none"),
        (5, False, 0, 0, None, 0, None, "none"),
        (6, False, 0, 0, 950, 3, 548.48, "low"),  # 1000, 50, 1000
        (7, False, 0, 0, None, 0, None, "none"),
    ],
)

# fmt: on

DIMENSIONS = {
    "analytics.dim_demographic": DEMOGRAPHIC,
    "analytics.dim_geographic": GEOGRAPHIC,
    "analytics.dim_loyalty": LOYALTY,
    "analytics.dim_financial": FINANCIAL,
    "analytics.dim_digital": DIGITAL,
    "analytics.dim_shopping": SHOPPING,
    "analytics.dim_value": VALUE,
    "analytics.dim_risk": RISK,
}


# ---- the tests ----------------------------------------------------------------------------------


def test_snapshot_is_the_latest_business_date_with_its_cutoffs(project: Project) -> None:
    table = load_table(open_catalog(project), "analytics.int_snapshot")
    assert table is not None
    assert table.scan().to_arrow().to_pylist() == [
        {
            "snapshot_date": SNAPSHOT,
            "cutoff_90d": d("2024-04-01"),
            "cutoff_3m": d("2024-03-30"),
            "cutoff_6m": d("2023-12-30"),
        }
    ]


def test_int_clients_keeps_the_latest_crm_version(project: Project) -> None:
    clients = {row["customer_id"]: row for row in read(project, "analytics.int_clients")}
    assert sorted(clients) == [1, 2, 3, 4, 5, 6]
    assert (clients[1]["city"], clients[1]["updated_at"], clients[1]["crm_versions"]) == (
        "Porto",
        ts("2024-01-01T12:00:00"),
        2,
    )
    dana = clients[4]
    assert (dana["city"], dana["marital_status"], dana["crm_versions"]) == ("Dallas", "married", 2)


@pytest.mark.parametrize("name", sorted(DIMENSIONS))
def test_dimension_values(project: Project, name: str) -> None:
    assert_table(project, name, DIMENSIONS[name])


def test_debits_are_counted_from_debit_rows(project: Project) -> None:
    ana = read(project, "analytics.dim_financial")[0]
    assert (ana["credits_3m"], ana["debits_3m"]) == (2, 1)
    assert (ana["credit_amount_3m"], ana["debit_amount_3m"]) == (1500, 300)


def test_last_disposition_is_the_latest_not_the_first(project: Project) -> None:
    rows = {row["customer_id"]: row for row in read(project, "analytics.int_client_dispositions")}
    assert (rows[2]["first_disp_id"], rows[2]["last_disp_id"]) == (3, 4)
    # Ana's highest disp_id (5, a user right) is on an account opened before her account 101.
    assert (rows[1]["first_disp_id"], rows[1]["last_disp_id"]) == (1, 2)
    assert (rows[6]["first_disp_id"], rows[6]["last_disp_id"]) == (6, 6)


def test_a_session_with_three_hits_counts_once(project: Project) -> None:
    table = load_table(open_catalog(project), "analytics.int_web_sessions")
    assert table is not None
    sessions = {(row["full_visitor_id"], row["visit_id"]): row for row in table.scan().to_arrow().to_pylist()}
    assert len(sessions) == 4
    assert (sessions["111", 1001]["hits"], sessions["111", 1001]["page_hits"]) == (3, 3)
    assert sessions["111", 1001]["pageviews"] == 3  # not 3 × 3
    chen = read(project, "analytics.dim_digital")[2]
    assert (chen["sessions"], chen["pageviews"], chen["hits"]) == (3, 5, 6)


def test_the_many_to_many_visitor_map_does_not_fan_out(project: Project) -> None:
    pairs = sorted(
        (row["customer_id"], row["full_visitor_id"], row["visit_id"])
        for row in read(project, "analytics.int_client_sessions")
    )
    # Chen's login on browser 111 was sent twice; browser 222 is Chen's and Dana's.
    assert pairs == [(3, "111", 1001), (3, "111", 1002), (3, "222", 2001), (4, "222", 2001)]
    views = {
        (row["customer_id"], row["page_path"]): row["page_views"]
        for row in read(project, "analytics.int_client_page_views")
    }
    assert views == {(3, "/home"): 3, (3, "/cards"): 2, (4, "/cards"): 1}


def test_a_customer_without_activity_has_a_row_of_zeros(project: Project) -> None:
    for name in [*DIMENSIONS, "analytics.customer_360"]:
        eve = [row for row in read(project, name) if row["customer_id"] == 5]
        assert len(eve) == 1, name
    eve = next(row for row in read(project, "analytics.customer_360") if row["customer_id"] == 5)
    counts = ["accounts", "cards", "products", "sessions", "pageviews", "hits", "orders", "movements_6m"]
    assert [eve[name] for name in counts] == [0] * len(counts)
    assert (eve["current_balance"], eve["lifetime_value"], eve["trend"], eve["risk_level"]) == (
        0,
        Decimal("0.00"),
        "inactive",
        "none",
    )


def test_customer_360_joins_every_dimension_for_the_snapshot(project: Project) -> None:
    rows = read(project, "analytics.customer_360")
    assert [row["customer_id"] for row in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert {row["snapshot_date"] for row in rows} == {SNAPSHOT}
    for row in rows:
        for dimension in DIMENSIONS.values():
            want = next(w for w in dimension if w["customer_id"] == row["customer_id"])
            shared = {name: value for name, value in want.items() if name in row}
            assert {name: row[name] for name in shared} == pytest.approx(shared)
    ana = rows[0]
    assert (ana["first_name"], ana["email"], ana["birth_date"]) == ("Ana", "ana@example.com", d("1990-07-15"))
    # Every dimension column reaches the 360 table, but retail_revenue, which is revenue again.
    columns = {name for dimension in DIMENSIONS.values() for name in dimension[0]}
    assert columns - set(ana) == {"retail_revenue"}


def test_rebuilding_without_new_data_gives_the_same_tables(project: Project) -> None:
    catalog = open_catalog(project)
    before = {name: read(project, name) for name in [*DIMENSIONS, "analytics.customer_360"]}
    result = build(project)
    assert {run.model for run in result.runs} >= set(DIMENSIONS)
    for name, rows in before.items():
        assert read(project, name) == rows, name
    history = load_table(catalog, "analytics.customer_360")
    assert history is not None and history.scan().count() == 7  # the snapshot date was replaced


def test_every_builtin_model_documents_every_column(project: Project) -> None:
    catalog = open_catalog(project)
    for model in load_models(project):
        table = load_table(catalog, model.name)
        assert table is not None, model.name
        columns = [field.name for field in table.schema().fields]
        undocumented = [name for name in columns if name not in model.header.columns]
        assert not undocumented, f"{model.name}: no '-- column' line for {undocumented}"
        assert model.header.grain, f"{model.name} declares no grain"
        tested = {column for test in model.header.tests for column in test.columns if test.kind == "unique"}
        assert set(model.header.grain) <= tested, f"{model.name}: grain not tested unique"
