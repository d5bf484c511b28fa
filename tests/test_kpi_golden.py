"""Golden tests of the KPI models, on a handful of click events and a tiny bank, worked out by hand.

The click events (stage.clickstream) span Monday 2024-06-03 and Tuesday 2024-06-04, over two
categories with two brands each (smartphones: apple P1 at 100, samsung P2 at 50; kettles: bosch P3
at 20, tefal P5 at 30) and one product without category or brand (P4 at 5):

- s1 (user 1, Monday 10:00): views, carts and buys P1 (the purchase received twice: one event), then
  views and carts P2 and leaves it in the cart: a purchasing session with 50 left in its cart.
- s2 (user 2, Monday 23:50 → Tuesday 00:07): carts P2, carts P3 after midnight and removes it: the
  whole session counts on Monday; abandoned with 50 left (P3's cart is cancelled by the removal).
- s3 (user 3, Tuesday 09:00): buys P3 without any cart event, views P4 (no category) and P3.
- user 4, Tuesday, no user_session (null, once blank): 12:00, 12:20 and 12:50 are one session (a
  gap of exactly 30 minutes continues it), 13:30 starts another (40 minutes later); both abandon a
  cart (P5: 30, P1: 100).
- s5 (user 1, Tuesday 15:00): views only.

The bank-side KPIs are built through the real models over the bank of ``test_models_golden``
(six customers, snapshot 2024-06-30), whose dimension values that module works out by hand.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from c360.config import Project, load_project
from c360.lake.catalog import open_catalog
from c360.lake.tables import load_table
from c360.modeling import build
from tests.projects import write_project
from tests.test_models_golden import write_golden_stage, write_stage

MONDAY = date(2024, 6, 3)
TUESDAY = date(2024, 6, 4)
PHONE = "electronics.smartphone"
KETTLE = "appliances.kitchen.kettle"
# product → (category_id, category_code, brand, price)
PRODUCTS = {
    1: (10, PHONE, "apple", "100.00"),
    2: (10, PHONE, "samsung", "50.00"),
    3: (20, KETTLE, "bosch", "20.00"),
    4: (30, None, None, "5.00"),
    5: (20, KETTLE, "tefal", "30.00"),
}
# (session, user, time, type, product); None and "" are missing sessions
EVENTS = [
    ("s1", 1, "2024-06-03 10:00:00", "view", 1),
    ("s1", 1, "2024-06-03 10:01:00", "cart", 1),
    ("s1", 1, "2024-06-03 10:02:00", "purchase", 1),
    ("s1", 1, "2024-06-03 10:02:00", "purchase", 1),  # received twice (from two ips): one event
    ("s1", 1, "2024-06-03 10:03:00", "view", 2),
    ("s1", 1, "2024-06-03 10:04:00", "cart", 2),
    ("s2", 2, "2024-06-03 23:50:00", "view", 2),
    ("s2", 2, "2024-06-03 23:55:00", "cart", 2),
    ("s2", 2, "2024-06-04 00:05:00", "cart", 3),
    ("s2", 2, "2024-06-04 00:06:00", "remove_from_cart", 3),
    ("s2", 2, "2024-06-04 00:07:00", "view", 3),
    ("s3", 3, "2024-06-04 09:00:00", "purchase", 3),  # no cart event before it
    ("s3", 3, "2024-06-04 09:01:00", "view", 4),
    ("s3", 3, "2024-06-04 09:02:00", "view", 3),
    (None, 4, "2024-06-04 12:00:00", "view", 5),
    (None, 4, "2024-06-04 12:20:00", "cart", 5),
    ("", 4, "2024-06-04 12:50:00", "view", 2),  # exactly 30 minutes later: same session
    (None, 4, "2024-06-04 13:30:00", "view", 1),  # 40 minutes later: a new session
    (None, 4, "2024-06-04 13:31:00", "cart", 1),
    ("s5", 1, "2024-06-04 15:00:00", "view", 1),
    ("s5", 1, "2024-06-04 15:05:00", "view", 1),
    ("s5", 1, "2024-06-04 15:06:00", "view", 2),
    ("s5", 1, "2024-06-04 15:07:00", "view", 3),
]
GAP_A = "gap:4:1717502400"  # 2024-06-04 12:00:00 UTC in seconds since 1970
GAP_B = "gap:4:1717507800"  # 2024-06-04 13:30:00 UTC

CLICK_MODELS = [
    "analytics.kpi_unique_visitors_daily",
    "analytics.kpi_funnel_daily",
    "analytics.kpi_cart_abandonment_daily",
    "analytics.kpi_top_categories_hourly",
    "analytics.kpi_top_categories_weekday",
    "analytics.kpi_brands_needing_marketing",
    "analytics.kpi_revenue_daily",
]
BANK_MODELS = [
    "analytics.kpi_customers_by_segment",
    "analytics.kpi_product_holding",
    "analytics.kpi_digital_adoption",
]


def click_rows() -> list[dict]:
    rows = []
    for number, (session, user, when, kind, product) in enumerate(EVENTS):
        category_id, category_code, brand, price = PRODUCTS[product]
        rows.append(
            {
                "event_time": datetime.fromisoformat(when),
                "event_type": kind,
                "product_id": product,
                "category_id": category_id,
                "category_code": category_code,
                "brand": brand,
                "price": Decimal(price),
                "user_id": user,
                "user_session": session,
                "ip": f"10.0.{number}.{user}",  # the re-sent purchase came from another address
                "user_agent": "Mozilla/5.0",
            }
        )
    return rows


@pytest.fixture(scope="module")
def clicks(tmp_path_factory: pytest.TempPathFactory) -> Project:
    directory = tmp_path_factory.mktemp("kpi")
    write_project(directory, '[lake]\npath = "lake"\n')
    project = load_project(directory)
    write_stage(project, "clickstream", click_rows())
    build(project, CLICK_MODELS)
    return project


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Project:
    directory = tmp_path_factory.mktemp("kpi-bank")
    write_project(directory, '[lake]\npath = "lake"\n')
    project = load_project(directory)
    write_golden_stage(project)
    build(project, BANK_MODELS)
    return project


def read(project: Project, name: str, *order: str) -> list[dict]:
    table = load_table(open_catalog(project), name)
    assert table is not None, name
    return sorted(table.scan().to_arrow().to_pylist(), key=lambda row: tuple(row[key] for key in order))


def rows(columns: str, values: list[tuple]) -> list[dict]:
    names = columns.split()
    return [dict(zip(names, row, strict=True)) for row in values]


# ---- the click side ------------------------------------------------------------------------------


def test_duplicates_count_once_and_missing_sessions_follow_the_gap_rule(clicks: Project) -> None:
    events = read(clicks, "analytics.int_click_events", "event_time", "event_type")
    assert len(events) == len(EVENTS) - 1
    assert [e["copies"] for e in events if e["event_type"] == "purchase" and e["product_id"] == 1] == [2]
    user4 = [(e["event_time"].strftime("%H:%M"), e["session_id"]) for e in events if e["user_id"] == 4]
    assert user4 == [
        ("12:00", GAP_A),
        ("12:20", GAP_A),
        ("12:50", GAP_A),  # a blank user_session is missing too
        ("13:30", GAP_B),
        ("13:31", GAP_B),
    ]


def test_sessions(clicks: Project) -> None:
    got = read(clicks, "analytics.int_click_sessions", "session_id")
    want = rows(
        "session_id user_id session_date events views carts removals purchases purchase_value "
        "left_in_cart_units left_in_cart_value",
        [
            (GAP_A, 4, TUESDAY, 3, 2, 1, 0, 0, Decimal("0.00"), 1, Decimal("30.00")),
            (GAP_B, 4, TUESDAY, 2, 1, 1, 0, 0, Decimal("0.00"), 1, Decimal("100.00")),
            ("s1", 1, MONDAY, 5, 2, 2, 0, 1, Decimal("100.00"), 1, Decimal("50.00")),
            # across midnight: Monday's; P3's cart is cancelled by its removal, P2 stays
            ("s2", 2, MONDAY, 5, 2, 2, 1, 0, Decimal("0.00"), 1, Decimal("50.00")),
            ("s3", 3, TUESDAY, 3, 2, 0, 0, 1, Decimal("20.00"), 0, Decimal("0.00")),
            ("s5", 1, TUESDAY, 4, 4, 0, 0, 0, Decimal("0.00"), 0, Decimal("0.00")),
        ],
    )
    assert [{k: row[k] for k in want[0]} for row in got] == want
    s2 = next(row for row in got if row["session_id"] == "s2")
    assert (s2["session_start"], s2["session_end"]) == (
        datetime(2024, 6, 3, 23, 50),
        datetime(2024, 6, 4, 0, 7),
    )


def test_unique_visitors_daily(clicks: Project) -> None:
    # Monday: s1, s2 (with its 3 events after midnight); Tuesday: s3, the two gap sessions, s5
    assert read(clicks, "analytics.kpi_unique_visitors_daily", "event_date") == rows(
        "event_date unique_users sessions events events_per_session",
        [(MONDAY, 2, 2, 10, 5.0), (TUESDAY, 3, 4, 12, 3.0)],
    )


def test_funnel_daily(clicks: Project) -> None:
    got = read(clicks, "analytics.kpi_funnel_daily", "event_date", "category_code", "brand")
    assert got == rows(
        "event_date category_code brand views carts purchases view_to_cart_rate cart_to_purchase_rate",
        [
            (MONDAY, KETTLE, "bosch", 1, 1, 0, 1.0, 0.0),  # s2 after midnight; the removal is no cart
            (MONDAY, PHONE, "apple", 1, 1, 1, 1.0, 1.0),  # the purchase received twice counts once
            (MONDAY, PHONE, "samsung", 2, 2, 0, 1.0, 0.0),
            (TUESDAY, "(uncategorized)", "(unknown)", 1, 0, 0, 0.0, None),
            (TUESDAY, KETTLE, "bosch", 2, 0, 1, 0.0, None),  # a purchase without a cart still counts
            (TUESDAY, KETTLE, "tefal", 1, 1, 0, 1.0, 0.0),
            (TUESDAY, PHONE, "apple", 3, 1, 0, 0.3333, 0.0),
            (TUESDAY, PHONE, "samsung", 2, 0, 0, 0.0, None),
        ],
    )


def test_cart_abandonment_daily(clicks: Project) -> None:
    # Monday: carts s1 (bought P1, left P2: 50) and s2 (abandoned, left P2: 50, P3 removed)
    # Tuesday: the two gap sessions, both abandoned (30 + 100); s3 bought without a cart
    assert read(clicks, "analytics.kpi_cart_abandonment_daily", "event_date") == rows(
        "event_date carts abandoned abandonment_rate abandoned_value left_in_cart_value",
        [
            (MONDAY, 2, 1, 0.5, Decimal("50.00"), Decimal("100.00")),
            (TUESDAY, 2, 2, 1.0, Decimal("130.00"), Decimal("130.00")),
        ],
    )


def test_revenue_daily(clicks: Project) -> None:
    assert read(clicks, "analytics.kpi_revenue_daily", "event_date") == rows(
        "event_date revenue orders items avg_order_value",
        [(MONDAY, Decimal("100.00"), 1, 1, 100.0), (TUESDAY, Decimal("20.00"), 1, 1, 20.0)],
    )


def test_top_categories_hourly(clicks: Project) -> None:
    got = read(clicks, "analytics.kpi_top_categories_hourly", "event_hour", "category_rank")
    assert got == rows(
        "event_hour category_code category_rank views carts purchases revenue",
        [
            (0, KETTLE, 1, 1, 1, 0, Decimal("0.00")),  # the hour of the event, not of its session
            (9, KETTLE, 1, 1, 0, 1, Decimal("20.00")),  # P4 has no category: left out
            (10, PHONE, 1, 2, 2, 1, Decimal("100.00")),
            (12, KETTLE, 1, 1, 1, 0, Decimal("0.00")),  # tied on purchases and views: alphabetical
            (12, PHONE, 2, 1, 0, 0, Decimal("0.00")),
            (13, PHONE, 1, 1, 1, 0, Decimal("0.00")),
            (15, PHONE, 1, 3, 0, 0, Decimal("0.00")),
            (15, KETTLE, 2, 1, 0, 0, Decimal("0.00")),
            (23, PHONE, 1, 1, 1, 0, Decimal("0.00")),
        ],
    )


def test_top_categories_weekday(clicks: Project) -> None:
    got = read(clicks, "analytics.kpi_top_categories_weekday", "weekday", "category_rank")
    assert got == rows(
        "weekday weekday_name category_code category_rank views carts purchases revenue",
        [
            (0, "Monday", PHONE, 1, 3, 3, 1, Decimal("100.00")),
            # kettles' one purchase outranks the phones' five views
            (1, "Tuesday", KETTLE, 1, 4, 2, 1, Decimal("20.00")),
            (1, "Tuesday", PHONE, 2, 5, 1, 0, Decimal("0.00")),
        ],
    )


def test_brands_needing_marketing(clicks: Project) -> None:
    got = read(clicks, "analytics.kpi_brands_needing_marketing", "category_code", "brand")
    assert got == rows(
        "category_code brand views purchases conversion_rate category_conversion_rate category_brands "
        "category_median_views needs_marketing",
        [
            # kettles: 1 purchase in 4 views; tefal converts nothing but has few views (1 < median 2)
            (KETTLE, "bosch", 3, 1, 0.3333, 0.25, 2, 2.0, False),
            (KETTLE, "tefal", 1, 0, 0.0, 0.25, 2, 2.0, False),
            # phones: 1 purchase in 8 views; samsung has median views and converts below 0.0625
            (PHONE, "apple", 4, 1, 0.25, 0.125, 2, 4.0, False),
            (PHONE, "samsung", 4, 0, 0.0, 0.125, 2, 4.0, True),
        ],
    )


# ---- the bank side -------------------------------------------------------------------------------

SNAPSHOT = date(2024, 6, 30)


def test_customers_by_segment(bank: Project) -> None:
    # tiers and bands of the seven golden customers (dim_value, dim_demographic); Gus has no birth date
    got = read(bank, "analytics.kpi_customers_by_segment", "value_tier", "age_band")
    assert got == rows(
        "snapshot_date value_tier age_band customers customer_share",
        [
            (SNAPSHOT, "high", "25-34", 1, 0.1429),
            (SNAPSHOT, "low", "18-24", 1, 0.1429),
            (SNAPSHOT, "low", "35-44", 1, 0.1429),
            (SNAPSHOT, "low", "65+", 1, 0.1429),
            (SNAPSHOT, "medium", "unknown", 1, 0.1429),
            (SNAPSHOT, "none", "under 18", 1, 0.1429),
            (SNAPSHOT, "top", "55-64", 1, 0.1429),
        ],
    )


def test_product_holding(bank: Project) -> None:
    # accounts + cards: Ana 3 + 3, Bruno 2 + 1, Finn 1 + 1, Chen, Dana, Eve and Gus none
    assert read(bank, "analytics.kpi_product_holding", "products") == rows(
        "snapshot_date products customers customer_share",
        [
            (SNAPSHOT, 0, 4, 0.5714),
            (SNAPSHOT, 2, 1, 0.1429),
            (SNAPSHOT, 3, 1, 0.1429),
            (SNAPSHOT, 6, 1, 0.1429),
        ],
    )


def test_digital_adoption(bank: Project) -> None:
    # Chen and Dana have web sessions, out of seven customers
    assert read(bank, "analytics.kpi_digital_adoption", "snapshot_date") == rows(
        "snapshot_date customers digital_customers digital_adoption_rate", [(SNAPSHOT, 7, 2, 0.2857)]
    )
