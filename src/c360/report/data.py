"""The KPI figures a report shows, read from the analytics.kpi_* tables for a date range and category.

Tables are read only through :func:`c360.lake.query.run_query`, so how a KPI model materializes
(full or incremental, partitioned or not) does not matter here. A table not built yet reads as
``None`` (the report says so); a table with no rows in the range reads as an empty list.

The category filter is a dotted-path prefix: ``electronics`` keeps ``electronics.smartphone`` too.
It applies to the tables that have a category (funnel, top categories, brands); the daily
visitor, revenue and cart tables count whole sessions, which have no single category.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from c360.errors import C360Error
from c360.lake.query import run_query
from c360.lake.tables import load_table

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_BRANDS = 15


@dataclass(frozen=True)
class Filters:
    start: date | None = None
    end: date | None = None
    category: str | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise C360Error(
                f"the date range is empty: from {self.start} is after to {self.end}",
                hint="give --from on or before --to",
            )

    def describe(self) -> str:
        days = (
            f"{self.start or 'the first day'} to {self.end or 'the last day'}"
            if self.start or self.end
            else "all days"
        )
        return f"{days}, {'category ' + self.category if self.category else 'all categories'}"


@dataclass
class KpiData:
    """What one report or dashboard page shows. ``None``: the table is not built yet."""

    filters: Filters
    categories: list[str] = field(default_factory=list)
    visitors: list[dict[str, Any]] | None = None
    revenue: list[dict[str, Any]] | None = None
    funnel: list[dict[str, Any]] | None = None
    abandonment: list[dict[str, Any]] | None = None
    hourly: list[dict[str, Any]] | None = None
    weekday: list[dict[str, Any]] | None = None
    brands: list[dict[str, Any]] | None = None
    segments: list[dict[str, Any]] | None = None
    holding: list[dict[str, Any]] | None = None
    adoption: list[dict[str, Any]] | None = None


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _where(filters: Filters, *, dated: bool, categorized: bool) -> str:
    conditions = ["TRUE"]
    if dated and filters.start:
        conditions.append(f"event_date >= DATE '{filters.start.isoformat()}'")
    if dated and filters.end:
        conditions.append(f"event_date <= DATE '{filters.end.isoformat()}'")
    if categorized and filters.category:
        code = filters.category
        conditions.append(
            f"(category_code = {_text(code)} OR starts_with(category_code, {_text(code + '.')}))"
        )
    return " AND ".join(conditions)


def _rows(catalog: SqlCatalog, table: str, sql: str) -> list[dict[str, Any]] | None:
    if load_table(catalog, table) is None:
        return None
    return run_query(catalog, sql).to_pylist()


def categories(catalog: SqlCatalog) -> list[str]:
    """Every category code in the funnel and its top-level prefixes, for the category filter."""
    rows = _rows(
        catalog,
        "analytics.kpi_funnel_daily",
        "SELECT DISTINCT category_code FROM analytics.kpi_funnel_daily "
        "WHERE category_code <> '(uncategorized)'",
    )
    codes = {row["category_code"] for row in rows or []}
    return sorted(codes | {code.split(".")[0] for code in codes})


def load_kpis(catalog: SqlCatalog, filters: Filters) -> KpiData:
    daily = _where(filters, dated=True, categorized=False)
    both = _where(filters, dated=True, categorized=True)
    category = _where(filters, dated=False, categorized=True)
    data = KpiData(filters, categories(catalog))
    data.visitors = _rows(
        catalog,
        "analytics.kpi_unique_visitors_daily",
        "SELECT event_date, unique_users, sessions, events FROM analytics.kpi_unique_visitors_daily "
        f"WHERE {daily} ORDER BY event_date",
    )
    data.revenue = _rows(
        catalog,
        "analytics.kpi_revenue_daily",
        "SELECT event_date, CAST(revenue AS DOUBLE) AS revenue, orders, items, avg_order_value "
        f"FROM analytics.kpi_revenue_daily WHERE {daily} ORDER BY event_date",
    )
    data.funnel = _rows(
        catalog,
        "analytics.kpi_funnel_daily",
        "SELECT event_date, CAST(sum(views) AS BIGINT) AS views, CAST(sum(carts) AS BIGINT) AS carts, "
        f"CAST(sum(purchases) AS BIGINT) AS purchases FROM analytics.kpi_funnel_daily WHERE {both} "
        "GROUP BY event_date ORDER BY event_date",
    )
    data.abandonment = _rows(
        catalog,
        "analytics.kpi_cart_abandonment_daily",
        "SELECT event_date, carts, abandoned, abandonment_rate, "
        "CAST(abandoned_value AS DOUBLE) AS abandoned_value "
        f"FROM analytics.kpi_cart_abandonment_daily WHERE {daily} ORDER BY event_date",
    )
    data.hourly = _by_slot(catalog, "analytics.kpi_top_categories_hourly", "event_hour", category, range(24))
    data.weekday = _by_slot(catalog, "analytics.kpi_top_categories_weekday", "weekday", category, range(7))
    data.brands = _rows(
        catalog,
        "analytics.kpi_brands_needing_marketing",
        "SELECT category_code, brand, views, purchases, conversion_rate, category_conversion_rate "
        f"FROM analytics.kpi_brands_needing_marketing WHERE needs_marketing AND {category} "
        f"ORDER BY views DESC, category_code, brand LIMIT {MAX_BRANDS}",
    )
    data.segments = _rows(
        catalog,
        "analytics.kpi_customers_by_segment",
        "SELECT snapshot_date, value_tier, age_band, customers, customer_share "
        "FROM analytics.kpi_customers_by_segment "
        "WHERE snapshot_date = (SELECT max(snapshot_date) FROM analytics.kpi_customers_by_segment)",
    )
    data.holding = _rows(
        catalog,
        "analytics.kpi_product_holding",
        "SELECT snapshot_date, products, customers, customer_share FROM analytics.kpi_product_holding "
        "WHERE snapshot_date = (SELECT max(snapshot_date) FROM analytics.kpi_product_holding) "
        "ORDER BY products",
    )
    data.adoption = _rows(
        catalog,
        "analytics.kpi_digital_adoption",
        "SELECT snapshot_date, customers, digital_customers, digital_adoption_rate "
        "FROM analytics.kpi_digital_adoption ORDER BY snapshot_date DESC LIMIT 1",
    )
    return data


def _by_slot(
    catalog: SqlCatalog, table: str, slot: str, where: str, slots: range
) -> list[dict[str, Any]] | None:
    """Totals per hour (or weekday) over the filtered categories, with each slot's best category.

    Every slot gets a row (zeros when nothing happened), so the chart always has the full axis;
    with no event in any slot the list is empty.
    """
    rows = _rows(
        catalog,
        table,
        f"SELECT {slot} AS slot, CAST(sum(views) AS BIGINT) AS views, CAST(sum(purchases) AS BIGINT) AS "
        "purchases, CAST(sum(revenue) AS DOUBLE) AS revenue, "
        "arg_min(category_code, category_rank) AS top_category, "
        f"CAST(arg_min(purchases, category_rank) AS BIGINT) AS top_purchases FROM {table} WHERE {where} "
        f"GROUP BY {slot}",
    )
    if rows is None or not rows:
        return rows
    found = {row["slot"]: row for row in rows}
    zero = {"views": 0, "purchases": 0, "revenue": 0.0, "top_category": None, "top_purchases": 0}
    return [{**zero, **found.get(s, {}), "slot": s} for s in slots]
