"""One HTML page of KPIs and data quality: the static report file and the web app's dashboards alike.

Everything the page needs (styles, charts as SVG, the tooltip script) is inline, so the file
written by ``c360 report`` opens from disk with no server and no network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from markupsafe import Markup

from c360 import __version__
from c360.report.charts import Axes, Series, bar_chart, empty, hbar_chart, line_chart, money, number, percent
from c360.report.data import WEEKDAYS, Filters, KpiData, load_kpis
from c360.report.quality import Quality, load_quality

if TYPE_CHECKING:
    import jinja2
    from pyiceberg.catalog.sql import SqlCatalog

AGE_BANDS = ("under 18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
VALUE_TIERS = ("top", "high", "medium", "low", "none")
NOT_BUILT = "Not built yet: run `c360 build` (the model {} has no table in the lake)."


@dataclass(frozen=True)
class Card:
    label: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class Panel:
    """One chart (or table) with what it shows and which filters it follows."""

    key: str
    title: str
    scope: str
    body: Markup


@dataclass(frozen=True)
class PageForm:
    """The filter form of a served page (``None`` in a static report: it is rendered for one filter)."""

    action: str
    start: str
    end: str
    category: str

    @property
    def download(self) -> str:
        query = urlencode({"from": self.start, "to": self.end, "category": self.category})
        return f"{self.action}/report.html?{query}"


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("c360.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _day(row: dict[str, Any]) -> str:
    return row["event_date"].isoformat()


def _missing(rows: list[dict[str, Any]] | None, model: str) -> Markup | None:
    if rows is None:
        return empty(NOT_BUILT.format(model))
    if not rows:
        return empty()
    return None


def _cards(data: KpiData, quality: Quality) -> list[Card]:
    revenue = sum(r["revenue"] for r in data.revenue or [])
    orders = sum(r["orders"] for r in data.revenue or [])
    sessions = sum(r["sessions"] for r in data.visitors or [])
    days = len(data.visitors or [])
    carts = sum(r["carts"] for r in data.abandonment or [])
    abandoned = sum(r["abandoned"] for r in data.abandonment or [])
    return [
        Card("Revenue", money(revenue), f"{number(orders)} orders"),
        Card("Average order value", money(revenue / orders) if orders else "–", "revenue / orders"),
        Card("Sessions", number(sessions), f"over {days} day{'s' if days != 1 else ''}"),
        Card(
            "Daily visitors",
            f"{sum(r['unique_users'] for r in data.visitors or []) / days:,.1f}" if days else "–",
            "average unique users per day",
        ),
        Card(
            "Cart abandonment",
            percent(abandoned / carts) if carts else "–",
            f"{number(abandoned)} of {number(carts)} carts",
        ),
        Card("Quarantined rows", number(quality.quarantined), "rejected by the stage contracts"),
    ]


def _panels(data: KpiData) -> list[Panel]:
    dated, both, category = "date range", "date range and category", "category (all dates)"
    panels = []
    body = _missing(data.visitors, "kpi_unique_visitors_daily") or line_chart(
        "Unique visitors per day",
        [_day(r) for r in data.visitors or []],
        [
            Series("unique users", [r["unique_users"] for r in data.visitors or []]),
            Series("sessions", [r["sessions"] for r in data.visitors or []]),
        ],
        axes=Axes("day the sessions started", "visitors"),
    )
    panels.append(Panel("visitors", "Unique visitors per day", dated, body))
    body = _missing(data.revenue, "kpi_revenue_daily") or line_chart(
        "Revenue per day",
        [_day(r) for r in data.revenue or []],
        [Series("revenue", [r["revenue"] for r in data.revenue or []])],
        money,
        axes=Axes("day the sessions started", "revenue"),
    )
    panels.append(Panel("revenue", "Revenue per day", dated, body))
    body = _missing(data.funnel, "kpi_funnel_daily") or bar_chart(
        "Funnel per day",
        [_day(r) for r in data.funnel or []],
        [Series(kind, [r[kind] for r in data.funnel or []]) for kind in ("views", "carts", "purchases")],
        axes=Axes("day the sessions started", "events"),
    )
    panels.append(Panel("funnel", "Funnel per day: views → carts → purchases", both, body))
    body = _missing(data.abandonment, "kpi_cart_abandonment_daily") or bar_chart(
        "Cart abandonment rate per day",
        [_day(r) for r in data.abandonment or []],
        [Series("abandonment rate", [r["abandonment_rate"] for r in data.abandonment or []])],
        percent,
        [
            f"{r['abandoned']} of {r['carts']} carts, {money(r['abandoned_value'])} left"
            for r in data.abandonment or []
        ],
        axes=Axes("day the sessions started", "carts abandoned"),
    )
    panels.append(Panel("abandonment", "Cart abandonment rate per day", dated, body))
    panels.append(
        _slots(
            "hourly",
            "Purchases by hour of day (UTC)",
            data.hourly,
            [f"{h:02d}h" for h in range(24)],
            Axes("hour of the day, UTC", "purchases"),
        )
    )
    panels.append(
        _slots(
            "weekday",
            "Purchases by weekday",
            data.weekday,
            [d[:3] for d in WEEKDAYS],
            Axes("weekday", "purchases"),
        )
    )
    body = _missing(data.brands, "kpi_brands_needing_marketing") or hbar_chart(
        "Brands needing marketing",
        [f"{r['brand']} ({r['category_code']})" for r in data.brands or []],
        [r["views"] for r in data.brands or []],
        "views",
        notes=[
            f"{r['purchases']} purchases, conversion {percent(r['conversion_rate'] or 0)} "
            f"vs {percent(r['category_conversion_rate'] or 0)} in the category"
            for r in data.brands or []
        ],
        axes=Axes(x="view events"),
    )
    if data.brands == []:
        body = empty("No brand needs marketing: every brand converts at least half as well as its category.")
    panels.append(Panel("brands", "Brands needing marketing (many views, low conversion)", category, body))
    return panels


def _slots(key: str, title: str, rows: list[dict[str, Any]] | None, labels: list[str], axes: Axes) -> Panel:
    model = "kpi_top_categories_hourly" if key == "hourly" else "kpi_top_categories_weekday"
    body = _missing(rows, model) or bar_chart(
        title,
        labels,
        [Series("purchases", [r["purchases"] for r in rows or []])],
        notes=[
            f"{r['views']} views; top category {r['top_category']} ({r['top_purchases']} purchases)"
            if r["top_category"]
            else "no events"
            for r in rows or []
        ],
        axes=axes,
    )
    return Panel(key, title, "category (all dates)", body)


def _ordered(present: set[str], known: tuple[str, ...]) -> list[str]:
    """The known values in their natural order, then any others (e.g. 'unknown') alphabetically."""
    return [k for k in known if k in present] + sorted(present - set(known))


def _segments(data: KpiData) -> dict[str, Any]:
    """The bank-side KPIs of the latest customer_360 snapshot (no date range or category applies)."""
    matrix: dict[str, dict[str, int]] = {}
    for row in data.segments or []:
        matrix.setdefault(row["value_tier"], {})[row["age_band"]] = row["customers"]
    holding = data.holding or []
    return {
        "built": data.segments is not None,
        "snapshot": data.segments[0]["snapshot_date"] if data.segments else None,
        "tiers": _ordered(set(matrix), VALUE_TIERS),
        "bands": _ordered({band for m in matrix.values() for band in m}, AGE_BANDS),
        "matrix": matrix,
        "holding": _missing(data.holding, "kpi_product_holding")
        or bar_chart(
            "Customers by products held",
            [str(r["products"]) for r in holding],
            [Series("customers", [r["customers"] for r in holding])],
            notes=[f"{percent(r['customer_share'])} of customers" for r in holding],
            axes=Axes("products held (accounts plus cards)", "customers"),
        ),
        "adoption": data.adoption[0] if data.adoption else None,
    }


def render_page(
    data: KpiData, quality: Quality, *, form: PageForm | None = None, generated: datetime | None = None
) -> str:
    """The whole page as one self-contained HTML document."""
    return (
        _environment()
        .get_template("report.html")
        .render(
            title="c360 KPIs",
            filters=data.filters,
            categories=data.categories,
            cards=_cards(data, quality),
            panels=_panels(data),
            segments=_segments(data),
            quality=quality,
            form=form,
            generated=(generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
            version=__version__,
            number=number,
            percent=percent,
        )
    )


def render(catalog: SqlCatalog, filters: Filters, form: PageForm | None = None) -> str:
    """Read the KPI and quality tables and render the page: the one entry point of both outputs."""
    return render_page(load_kpis(catalog, filters), load_quality(catalog), form=form)
