"""``c360 report``: a clickstream landed, staged (bad rows quarantined) and modelled, then the HTML
report opened in headless Chromium from disk, its charts read back against the KPI tables.

The store (all times UTC; P1 apple and P2 samsung are electronics.smartphone at 100 and 50, P3
bosch and P5 tefal are appliances.kitchen.kettle at 20 and 30):

- Monday 2024-06-03: s1 (user 1) views, carts and buys P1 at 10:00; s2 (user 2) views and carts
  P2 at 14:00 and leaves.
- Tuesday 2024-06-04: s3 (user 3) views and buys P3 at 09:00; s4 (user 1) views P1 at 18:00.
- Wednesday 2024-06-05: s5 (user 4) views P2 twice, carts it, buys P1 instead, views P5, at 11:00.

samsung (3 views, no purchase) and tefal (1 view, none) need marketing. Three more rows break the
clickstream contract: an unknown event type, a negative price and a time in the future.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from c360.config import Project, load_project
from c360.errors import ConfigError
from c360.lake.catalog import open_catalog
from c360.lake.query import run_query
from c360.modeling import build
from c360.raw.ingest import ingest
from c360.report.data import Filters, load_kpis
from c360.report.quality import load_quality
from c360.stage.contract import Column, _parse
from c360.stage.expressions import column_sql
from c360.stage.runner import stage
from tests.projects import write_project
from tests.test_kpi_golden import BANK_MODELS
from tests.test_models_golden import write_golden_stage

PRODUCTS = {
    1: (10, "electronics.smartphone", "apple", "100.00"),
    2: (10, "electronics.smartphone", "samsung", "50.00"),
    3: (20, "appliances.kitchen.kettle", "bosch", "20.00"),
    5: (20, "appliances.kitchen.kettle", "tefal", "30.00"),
}
# (session, user, time, type, product)
EVENTS = [
    ("s1", 1, "2024-06-03 10:00:00", "view", 1),
    ("s1", 1, "2024-06-03 10:01:00", "cart", 1),
    ("s1", 1, "2024-06-03 10:02:00", "purchase", 1),
    ("s2", 2, "2024-06-03 14:00:00", "view", 2),
    ("s2", 2, "2024-06-03 14:01:00", "cart", 2),
    ("s3", 3, "2024-06-04 09:00:00", "view", 3),
    ("s3", 3, "2024-06-04 09:05:00", "purchase", 3),
    ("s4", 1, "2024-06-04 18:00:00", "view", 1),
    ("s5", 4, "2024-06-05 11:00:00", "view", 2),
    ("s5", 4, "2024-06-05 11:01:00", "view", 2),
    ("s5", 4, "2024-06-05 11:02:00", "cart", 2),
    ("s5", 4, "2024-06-05 11:03:00", "purchase", 1),
    ("s5", 4, "2024-06-05 11:04:00", "view", 5),
]
HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,"
    "user_id,user_session,ip,user_agent"
)
BAD_LINES = [
    "2024-06-04 12:00:00 UTC,hover,1,10,electronics.smartphone,apple,100.00,9,s9,10.0.0.9,Mozilla/5.0",
    "2024-06-04 12:01:00 UTC,view,1,10,electronics.smartphone,apple,-5.00,9,s9,10.0.0.9,Mozilla/5.0",
    "2099-01-01 00:00:00 UTC,view,1,10,electronics.smartphone,apple,100.00,9,s9,10.0.0.9,Mozilla/5.0",
]
CLICK_MODELS = [
    "analytics.kpi_unique_visitors_daily",
    "analytics.kpi_funnel_daily",
    "analytics.kpi_cart_abandonment_daily",
    "analytics.kpi_top_categories_hourly",
    "analytics.kpi_top_categories_weekday",
    "analytics.kpi_brands_needing_marketing",
    "analytics.kpi_revenue_daily",
]
DAYS = ["2024-06-03", "2024-06-04", "2024-06-05"]


def event_lines() -> list[str]:
    lines = []
    for number, (session, user, when, kind, product) in enumerate(EVENTS):
        category_id, code, brand, price = PRODUCTS[product]
        lines.append(
            f"{when} UTC,{kind},{product},{category_id},{code},{brand},{price},{user},{session},"
            f"10.0.0.{number},Mozilla/5.0"
        )
    return lines


def build_click_project(directory: Path) -> Project:
    """The store above landed from a CSV file, staged through the built-in contract, and modelled."""
    write_project(
        directory, '[lake]\npath = "lake"\n\n[sources.clickstream]\nkind = "delimited"\npath = "data/*.csv"\n'
    )
    (directory / "data").mkdir()
    (directory / "data" / "events.csv").write_text("\n".join([HEADER, *event_lines(), *BAD_LINES]) + "\n")
    project = load_project(directory)
    ingest(project)
    stage(project)
    build(project, CLICK_MODELS)
    return project


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return build_click_project(tmp_path_factory.mktemp("report"))


def kpi(project: Project, sql: str) -> list[dict[str, Any]]:
    return run_query(open_catalog(project), sql).to_pylist()


def write_report(project: Project, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "c360", "report", "--out", str(out), "--dir", str(project.root), *args],
        capture_output=True,
        text=True,
    )


def data(page: Any, selector: str, attribute: str) -> list[str]:
    return page.eval_on_selector_all(selector, f"els => els.map(e => e.getAttribute('{attribute}'))")


# ---- the contract: bad events are quarantined with their reasons -----------------------------------


def test_bad_events_are_quarantined_with_their_reasons(store: Project) -> None:
    rows = kpi(store, "SELECT rule, column_name, value FROM quarantine.clickstream ORDER BY rule")
    assert rows == [
        {"rule": "allowed_values", "column_name": "event_type", "value": "hover"},
        {"rule": "future", "column_name": "event_time", "value": "2099-01-01 00:00:00 UTC"},
        {"rule": "range", "column_name": "price", "value": "-5.00"},
    ]
    assert kpi(store, "SELECT count(*) AS n FROM stage.clickstream") == [{"n": len(EVENTS)}]


def test_quality_counts_them_per_source_and_reason(store: Project) -> None:
    quality = load_quality(open_catalog(store))
    [source] = quality.sources
    assert (source.source, source.raw_rows, source.stage_rows, source.quarantine_rows) == (
        "clickstream",
        len(EVENTS) + 3,
        len(EVENTS),
        3,
    )
    assert sorted((r.reason, r.rows) for r in quality.reasons) == [
        ("event_time in the future", 1),
        ("negative price", 1),
        ("unknown event_type", 1),
    ]


def future_check(column: Column, batch_id: str, values: list[str]) -> list[bool]:
    """Which timestamps the contract's rules reject, for a batch with id ``batch_id``."""
    sql = column_sql(column, {"t": "VARCHAR"})
    [condition] = [c for rule, c in sql.violations if rule == "future"]
    con = duckdb.connect()
    con.execute("CREATE TABLE raw(t VARCHAR, b VARCHAR)")
    con.executemany("INSERT INTO raw VALUES (?, ?)", [(v, batch_id) for v in values])
    query = (
        f'SELECT {condition} FROM (SELECT *, {sql.typed} AS "__t_{column.name}" FROM (SELECT *, '
        f'{sql.value} AS "__v_{column.name}" FROM (SELECT b, {sql.raw} AS "__r_{column.name}" FROM raw)))'
    )
    return [bool(row[0]) for row in con.execute(query).fetchall()]


def test_future_is_judged_against_the_batch_arrival_not_the_wall_clock() -> None:
    column = Column(name="t", raw=["t"], type="timestamp", description="t", max="now + 1h")
    times = ["2024-06-03 12:59:59", "2024-06-03 13:00:00", "2024-06-03 13:00:01", "2023-01-01 00:00:00"]
    # Received 2024-06-03 12:00 UTC: an hour of clock skew is tolerated, a second more is not,
    # and the answer is the same whenever the batch is (re)staged.
    assert future_check(column, "20240603T120000000000-0123456789ab", times) == [False, False, True, False]
    # Received in 2022: every one of these lies in that batch's future.
    assert future_check(column, "20220101T000000000000-0123456789ab", times) == [True, True, True, True]
    # A batch id of another shape carries no arrival time: the check does not apply.
    assert future_check(column, "hand-made", times) == [False, False, False, False]


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ('type = "timestamp"\nmax = "now + 2 weeks"', "write 'now' or 'now + <n><s|m|h|d>'"),
        ('type = "varchar"\nmax = "now"', "needs a date or timestamp column"),
    ],
)
def test_bad_now_bounds_are_refused(column: str, message: str) -> None:
    text = f'description = "x"\n[[columns]]\nname = "t"\ndescription = "t"\n{column}\n'
    with pytest.raises(ConfigError, match=message):
        _parse(text, "x", "contracts/x.toml")


# ---- the figures --------------------------------------------------------------------------------


def test_filters_keep_the_range_and_the_category_prefix(store: Project) -> None:
    catalog = open_catalog(store)
    everything = load_kpis(catalog, Filters())
    assert [r["event_date"] for r in everything.visitors] == [date.fromisoformat(d) for d in DAYS]
    assert everything.categories == [
        "appliances",
        "appliances.kitchen.kettle",
        "electronics",
        "electronics.smartphone",
    ]
    kettles = load_kpis(catalog, Filters(date(2024, 6, 4), date(2024, 6, 5), "appliances"))
    assert [(r["event_date"].isoformat(), r["views"], r["purchases"]) for r in kettles.funnel] == [
        ("2024-06-04", 1, 1),
        ("2024-06-05", 1, 0),
    ]
    assert [(r["slot"], r["purchases"], r["top_category"]) for r in kettles.hourly if r["views"]] == [
        (9, 1, "appliances.kitchen.kettle"),
        (11, 0, "appliances.kitchen.kettle"),
    ]
    assert len(kettles.hourly) == 24 and len(kettles.weekday) == 7
    assert [r["brand"] for r in kettles.brands] == ["tefal"]
    assert load_kpis(catalog, Filters(date(2030, 1, 1), None)).revenue == []


# ---- the report, in Chromium --------------------------------------------------------------------


def test_report_renders_in_chromium_with_the_kpi_values(store: Project, tmp_path: Path, page: Any) -> None:
    out = tmp_path / "report.html"
    done = write_report(store, out)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(out.as_uri())
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert requests == [out.as_uri()]  # self-contained: nothing else is fetched

    visitors = kpi(
        store, "SELECT event_date, unique_users FROM analytics.kpi_unique_visitors_daily ORDER BY 1"
    )
    points = '#panel-visitors .datum[data-series="unique users"]'
    assert data(page, points, "data-label") == DAYS
    assert [int(v) for v in data(page, points, "data-value")] == [r["unique_users"] for r in visitors]
    revenue = kpi(
        store,
        "SELECT event_date, CAST(revenue AS DOUBLE) AS revenue FROM analytics.kpi_revenue_daily ORDER BY 1",
    )
    assert [float(v) for v in data(page, "#panel-revenue .datum", "data-value")] == [100.0, 20.0, 100.0]
    assert [r["revenue"] for r in revenue] == [100.0, 20.0, 100.0]
    assert data(page, "#panel-revenue .datum", "data-tip")[0] == "2024-06-03 · revenue: 100.00"
    assert page.locator("#panel-revenue .datum title").first.text_content() == "2024-06-03 · revenue: 100.00"

    assert page.locator("#panel-funnel .datum").count() == 3 * len(DAYS)
    assert [int(v) for v in data(page, '#panel-funnel .datum[data-series="views"]', "data-value")] == [
        2,
        2,
        3,
    ]
    assert page.locator("#panel-hourly .datum").count() == 24
    assert page.locator("#panel-weekday .datum").count() == 7
    monday, tuesday, wednesday = (data(page, "#panel-weekday .datum", "data-value")[i] for i in range(3))
    assert (monday, tuesday, wednesday) == ("1", "1", "1")
    brands = data(page, "#panel-brands .datum", "data-label")
    assert brands == ["samsung (electronics.smartphone)", "tefal (appliances.kitchen.kettle)"]
    # axes: tick labels on both axes, the days under the daily charts
    assert page.locator("#panel-funnel text.tick.x").all_text_contents() == DAYS
    assert page.locator("#panel-funnel text.tick.y").count() >= 2
    # every chart is really drawn: a non-empty box, with bars of height > 0
    for key in ("visitors", "revenue", "funnel", "abandonment", "hourly", "weekday", "brands"):
        box = page.locator(f"#panel-{key} svg.chart").bounding_box()
        assert box and box["width"] > 300 and box["height"] > 60, key
    heights = data(page, '#panel-funnel .datum[data-series="views"]', "height")
    assert all(float(h) > 0 for h in heights)

    reasons = page.locator("#quality-reasons tbody tr").all_text_contents()
    assert len(reasons) == 3
    assert any("negative price" in r and r.strip().endswith("1") for r in reasons)
    assert any("event_time in the future" in r for r in reasons)
    assert any("unknown event_type" in r for r in reasons)
    source = page.locator('#quality-sources tr[data-source="clickstream"] td').all_text_contents()
    assert source == ["clickstream", "1", str(len(EVENTS) + 3), str(len(EVENTS)), "3", "0"]
    assert "Quarantined rows" in page.locator("#cards").text_content()


def test_tooltip_shows_on_hover(store: Project, tmp_path: Path, page: Any) -> None:
    out = tmp_path / "report.html"
    assert write_report(store, out).returncode == 0
    page.goto(out.as_uri())
    page.locator("#panel-revenue .datum").nth(1).hover()
    assert page.locator("#tip").is_visible()
    assert page.locator("#tip").text_content() == "2024-06-04 · revenue: 20.00"


def test_report_for_a_range_and_category(store: Project, tmp_path: Path, page: Any) -> None:
    out = tmp_path / "kettles.html"
    done = write_report(store, out, "--from", "2024-06-04", "--to", "2024-06-05", "--category", "appliances")
    assert done.returncode == 0, done.stderr
    page.goto(out.as_uri())
    page.screenshot(path=str(tmp_path / "kettles.png"), full_page=True)
    assert page.locator("#scope").text_content() == "2024-06-04 to 2024-06-05, category appliances"
    assert data(page, '#panel-funnel .datum[data-series="views"]', "data-label") == DAYS[1:]
    assert data(page, "#panel-brands .datum", "data-label") == ["tefal (appliances.kitchen.kettle)"]


def test_an_empty_range_says_so_instead_of_drawing_nothing(store: Project, tmp_path: Path, page: Any) -> None:
    out = tmp_path / "empty.html"
    assert write_report(store, out, "--from", "2030-01-01").returncode == 0
    page.goto(out.as_uri())
    for key in ("visitors", "revenue", "funnel", "abandonment"):
        assert page.locator(f"#panel-{key} .empty").text_content() == "No data for this range."
        assert page.locator(f"#panel-{key} svg").count() == 0


def test_a_project_with_nothing_built_says_what_to_run(tmp_path: Path) -> None:
    write_project(tmp_path / "p", '[lake]\npath = "lake"\n')
    done = write_report(load_project(tmp_path / "p"), tmp_path / "r.html")
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "r.html").read_text()
    assert "Not built yet: run `c360 build` (the model kpi_unique_visitors_daily" in html
    assert "Nothing staged yet: run `c360 stage`." in html


def test_an_inverted_range_is_refused(store: Project, tmp_path: Path) -> None:
    done = write_report(store, tmp_path / "r.html", "--from", "2024-06-05", "--to", "2024-06-03")
    assert done.returncode == 1
    assert "the date range is empty: from 2024-06-05 is after to 2024-06-03" in done.stderr
    assert not (tmp_path / "r.html").exists()


def test_customer_segments_of_the_latest_snapshot(tmp_path: Path, page: Any) -> None:
    write_project(tmp_path / "bank", '[lake]\npath = "lake"\n')
    project = load_project(tmp_path / "bank")
    write_golden_stage(project)
    build(project, BANK_MODELS)
    out = tmp_path / "bank.html"
    assert write_report(project, out).returncode == 0
    page.goto(out.as_uri())
    page.screenshot(path=str(tmp_path / "bank.png"), full_page=True)
    segments = kpi(project, "SELECT value_tier, age_band, customers FROM analytics.kpi_customers_by_segment")
    assert segments
    for row in segments:
        cell = page.locator(
            f'#panel-segments td[data-tier="{row["value_tier"]}"][data-band="{row["age_band"]}"]'
        )
        assert cell.text_content() == str(row["customers"])
    holding = kpi(project, "SELECT products, customers FROM analytics.kpi_product_holding ORDER BY products")
    assert data(page, "#panel-holding .datum", "data-label") == [str(r["products"]) for r in holding]
    assert [int(v) for v in data(page, "#panel-holding .datum", "data-value")] == [
        r["customers"] for r in holding
    ]
    [adoption] = kpi(project, "SELECT digital_customers, customers FROM analytics.kpi_digital_adoption")
    text = page.locator("#adoption").text_content()
    assert f"{adoption['digital_customers']} of {adoption['customers']} customers" in " ".join(text.split())
    assert page.locator("#panel-visitors .empty").text_content().startswith("Not built yet")
