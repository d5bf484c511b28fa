"""The web pages of the serving app: sign-in, search, and the customer 360 card.

Server-rendered HTML (Jinja2 templates in ``templates/``, one CSS file and a little vanilla JS in
``static/``), so the pages need no front-end build and read fast even without JavaScript. A
browser signs in by pasting an API key: it is kept in an HttpOnly, SameSite=Strict cookie that
the shared dependencies accept like the key headers, so a page shows exactly what the key's role
may see through the API (PII masked for roles without ``pii``).

The card shows the profile of the published snapshot grouped by dimension (the ``(dim_...)``
suffix of each column description in the customer_360 model header), where each column comes from
(column lineage down to the tables no model writes, computed once per app), the customer's
identifiers from the store's identifier map, and recent activity read from the lake.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from c360.errors import C360Error
from c360.serve.deps import KEY_COOKIE, signed_in
from c360.serve.pii import MASK, PROFILE_TABLE, mask_row, mask_value
from c360.serve.store import StoreError

if TYPE_CHECKING:
    from c360.config import Project
    from c360.serve.auth import Principal
    from c360.serve.store_api import ProfileReader

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
MAX_ID_DIGITS = 18  # longer is beyond a 64-bit id, and SQLite would refuse it rather than miss
# What the search box also tries as an exact identifier before the ranked name search.
LOOKUP_KINDS = ("client_id", "email", "phone", "visitor_id", "user_id", "order_id")
ACTIVITY_ROWS = 5
GRAIN_PREFIX = re.compile(r"^One row per [^:.]*:\s*", re.IGNORECASE)
DIMENSION = re.compile(r"\s*\((dim_[a-z_]+)\)\s*$")
# The snapshot date is the "as of" of nearly every measure: as a source it would only add noise.
AS_OF_TABLE = "analytics.int_snapshot"
IDENTIFIER_LABELS = {
    "client_id": "CRM clients",
    "email": "E-mails",
    "phone": "Phones",
    "visitor_id": "Web visitors",
    "user_id": "Store users",
    "order_id": "Orders",
    "record": "Source records",
}
# Identifier kinds whose values are the PII column of the same name.
PII_IDENTIFIERS = {"email": "email", "phone": "phone"}
SHARE_COLUMNS = re.compile(r"(_share|_rate|_affinity)$")
HEADLINE = (
    ("lifetime_value", "Lifetime value"),
    ("current_balance", "Balance"),
    ("orders", "Orders"),
    ("sessions", "Web sessions"),
    ("tenure_days", "Tenure (days)"),
)
BADGES = ("value_tier", "risk_level", "trend", "life_stage", "rfm_cell")


@dataclass
class CardField:
    name: str
    value: str
    description: str
    empty: bool
    masked: bool
    sources: list[str]  # short source table names, for the compact chip
    lineage: str  # the full source columns, for the tooltip
    provenance: str | None = None


@dataclass
class CardGroup:
    key: str
    title: str
    description: str
    fields: list[CardField] = field(default_factory=list)


@dataclass(frozen=True)
class Layout:
    """The customer_360 columns by group (key, title, description, columns) and their descriptions."""

    groups: list[tuple[str, str, str, list[str]]]
    descriptions: dict[str, str]


@dataclass
class ActivitySection:
    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str | None = None


_state_lock = threading.Lock()


class LakeTables:
    """Lake tables by name, each loaded again at most every ``seconds``.

    A card reads five tables; loading one (catalog row and metadata file) costs about as much as
    scanning the customer's rows in it, so a card may show activity a few seconds old instead.
    """

    def __init__(self, catalog: Callable[[], Any], seconds: float = 5.0) -> None:
        self.catalog = catalog
        self.seconds = seconds
        self._loaded: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Any:
        from c360.lake.tables import load_table

        now = time.monotonic()
        with self._lock:
            hit = self._loaded.get(name)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        table = load_table(self.catalog(), name)
        if table is not None:  # a missing table is cheap to look for again, and may appear any time
            with self._lock:
                self._loaded[name] = (now, table)
        return table


def lake_tables(state: Any) -> LakeTables:
    with _state_lock:
        tables = getattr(state, "lake_tables", None)
        if tables is None:
            tables = state.lake_tables = LakeTables(state.catalog)
    return tables


def card_layout(state: Any) -> Layout:
    """The app's layout, read once from the model headers."""
    with _state_lock:
        layout = getattr(state, "card_layout", None)
        if layout is None:
            layout = build_layout(state.project)
            state.card_layout = layout
    return layout


def column_sources(state: Any) -> dict[str, list[str]] | None:
    """Column → its source columns, or None while they are still being traced.

    Tracing every customer_360 column through the models takes seconds (sqlglot re-qualifies each
    model per column), so it runs once per app in a background thread, started by the first page
    anyone opens; a card shown before it finishes simply has no source chips yet.
    """
    with _state_lock:
        future = getattr(state, "column_sources", None)
        if future is None:
            future = Future()
            state.column_sources = future
            thread = threading.Thread(
                target=_trace_sources, args=(future, state), name="c360-web-lineage", daemon=True
            )
            thread.start()
    if not future.done():
        return None
    return future.result() if future.exception() is None else {}


def _trace_sources(future: Future, state: Any) -> None:
    try:
        future.set_result(trace_sources(state.project, state.catalog()))
    except Exception as exc:  # a broken model must not take the pages down: cards show no sources
        log.warning("the web pages show no column sources: tracing the lineage failed: %s", exc)
        future.set_exception(exc)


def build_layout(project: Project) -> Layout:
    from c360.modeling.project import load_models

    models = load_models(project)
    groups: dict[str, tuple[str, str, str, list[str]]] = {
        "profile": (
            "profile",
            "Profile",
            "Who the customer is: the resolved identity and contact details.",
            [],
        )
    }
    descriptions: dict[str, str] = {}
    for name, doc in models[PROFILE_TABLE].header.columns.items():
        match = DIMENSION.search(doc.description)
        descriptions[name] = DIMENSION.sub("", doc.description)
        key = match.group(1) if match else "profile"
        if key not in groups:
            table = f"analytics.{key}"
            summary = models[table].header.description if table in models else ""
            groups[key] = (
                key,
                key.removeprefix("dim_").replace("_", " ").title(),
                _first_sentence(summary),
                [],
            )
        groups[key][3].append(name)
    return Layout(list(groups.values()), descriptions)


def trace_sources(project: Project, catalog: Any) -> dict[str, list[str]]:
    """Every customer_360 column → the columns of the tables no model writes that it is computed from.

    A column customer_360 copies from a dimension (``dem.age``) is traced from that dimension:
    the same tree without its top level, and three times cheaper than re-qualifying the wide
    customer_360 query for each of its columns.
    """
    from c360.modeling.lineage import lineage
    from c360.modeling.project import load_models

    models = load_models(project)
    copied = _copied_columns(models[PROFILE_TABLE].text)
    sources: dict[str, list[str]] = {}
    for name in models[PROFILE_TABLE].header.columns:
        target = copied.get(name, f"{PROFILE_TABLE}.{name}")
        try:
            node = lineage(project, target, catalog=catalog, models=models)
        except C360Error:
            sources[name] = []
            continue
        sources[name] = _source_columns(node, name == "snapshot_date")
    return sources


def _copied_columns(sql: str) -> dict[str, str]:
    """Output column → ``zone.table.column`` for the projections that copy one column unchanged."""
    import sqlglot
    from sqlglot import exp

    query = sqlglot.parse_one(sql, read="duckdb")
    if not isinstance(query, exp.Select):
        return {}
    tables = {
        table.alias_or_name: f"{table.db}.{table.name}" for table in query.find_all(exp.Table) if table.db
    }
    copied = {}
    for projection in query.selects:
        column = projection.this if isinstance(projection, exp.Alias) else projection
        if (
            isinstance(column, exp.Column)
            and column.table in tables
            and projection.alias_or_name == column.name
        ):
            copied[column.name] = f"{tables[column.table]}.{column.name}"
    return copied


def _first_sentence(text: str) -> str:
    """What a dimension holds, without the grain boilerplate every header starts with."""
    text = GRAIN_PREFIX.sub("", text)
    head, dot, _ = text.partition(". ")
    return (head[:1].upper() + head[1:] + (dot.strip() if dot else "")).strip()


def _source_columns(node: Any, keep_as_of: bool) -> list[str]:
    found: list[str] = []

    def walk(current: Any) -> None:
        if current.table == AS_OF_TABLE and not keep_as_of:
            return
        if not current.sources:
            for label in [f"{current.table}.{current.column}", *current.origins]:
                if label not in found:
                    found.append(label)
            return
        for source in current.sources:
            walk(source)

    walk(node)
    return sorted(found)


def _short_sources(columns: list[str]) -> list[str]:
    """'stage.crm.email' → 'crm'; 'identity.golden.email' → 'golden', each table once."""
    short: list[str] = []
    for column in columns:
        parts = column.split(".")
        name = parts[1] if len(parts) >= 2 else column
        if name not in short:
            short.append(name)
    return short


def format_value(column: str, value: Any) -> str:
    """A value as the card shows it: thousands separated, shares in percent, ids left as they are."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        if SHARE_COLUMNS.search(column) and 0 <= value <= 1:
            return f"{value:.0%}"
        return f"{value:,.2f}"
    if isinstance(value, int) and not column.endswith("_id") and column != "customer_id":
        return f"{value:,}"
    if isinstance(value, list | dict):
        return ", ".join(str(item) for item in value) if isinstance(value, list) else str(value)
    return str(value)


def _provenance(row: dict[str, Any], column: str) -> str | None:
    """'crm, 2024-03-01 09:30' from the golden-record fields ``<column>_source`` / ``<column>_at``."""
    source, at = row.get(f"{column}_source"), row.get(f"{column}_at")
    parts = ([str(source)] if source else []) + ([format_value(f"{column}_at", at)] if at else [])
    return ", ".join(parts) or None


def build_card(
    layout: Layout,
    sources: dict[str, list[str]],
    golden: dict[str, str],
    profile: dict[str, Any],
    masked: frozenset[str],
) -> list[CardGroup]:
    """The card's groups of fields; a group without a field of the profile is left out.

    ``golden`` is the provenance from identity.golden; fields ``<column>_source``/``<column>_at``
    the profile itself carries win over it, and show beside their column instead of as fields.
    """
    provenance_keys = {
        f"{column}{suffix}"
        for column in profile
        for suffix in ("_source", "_at")
        if f"{column}{suffix}" in profile
    }

    def card_field(column: str) -> CardField:
        value = profile[column]
        traced = sources.get(column, [])
        return CardField(
            name=column,
            value=format_value(column, value),
            description=layout.descriptions.get(column, ""),
            empty=value is None or value == "",
            masked=column in masked and value is not None,
            sources=_short_sources(traced),
            lineage=", ".join(traced),
            provenance=_provenance(profile, column) or golden.get(column),
        )

    groups = []
    for key, title, description, columns in layout.groups:
        shown = [column for column in columns if column in profile and column not in provenance_keys]
        groups.append(CardGroup(key, title, description, [card_field(column) for column in shown]))
    # Columns the published profile has but the model header does not describe still show.
    listed = {column for _, _, _, columns in layout.groups for column in columns}
    extra = [column for column in profile if column not in listed and column not in provenance_keys]
    description = "Columns of the profile the model header does not describe."
    groups.append(CardGroup("other", "Other", description, [card_field(column) for column in extra]))
    return [group for group in groups if group.fields]


def customer_identifiers(store: ProfileReader, customer_id: int) -> dict[str, list[str]]:
    """Every identifier the store maps to the customer, by kind, in the order of IDENTIFIER_LABELS."""
    rows = store.identifiers(customer_id)
    found: dict[str, list[str]] = {kind: [] for kind in IDENTIFIER_LABELS}
    for kind, value in rows:
        found.setdefault(kind, []).append(value)
    return {kind: sorted(values) for kind, values in found.items() if values}


def golden_provenance(tables: LakeTables, customer_id: int) -> dict[str, str]:
    """Attribute → 'source, time' from identity.golden, which keeps each golden value's origin.

    Empty when the lake has no golden record (a project built before identity resolution).
    """
    from pyiceberg.expressions import EqualTo

    table = tables.get("identity.golden")
    if table is None:
        return {}
    fields = [f.name for f in table.schema().fields if f.name.endswith(("_source", "_at"))]
    if not fields or "customer_id" not in {f.name for f in table.schema().fields}:
        return {}
    rows = table.scan(
        row_filter=EqualTo("customer_id", customer_id), selected_fields=tuple(fields)
    ).to_arrow()
    if rows.num_rows == 0:
        return {}
    row = rows.slice(0, 1).to_pylist()[0]
    attributes = {name.rsplit("_", 1)[0] for name in fields}
    return {attribute: text for attribute in attributes if (text := _provenance(row, attribute))}


def _shown_identifiers(identifiers: dict[str, list[str]], pii: bool) -> dict[str, list[str]]:
    if pii:
        return identifiers
    return {
        kind: [mask_value(PII_IDENTIFIERS[kind], value) for value in values]
        if kind in PII_IDENTIFIERS
        else values
        for kind, values in identifiers.items()
    }


def recent_activity(
    tables: LakeTables, customer_id: int, identifiers: dict[str, list[str]]
) -> list[ActivitySection]:
    """The latest orders, web sessions and account movements of the customer, from the lake.

    Each read is one pyiceberg scan filtered on the customer's keys (order ids and visitor ids from
    the identifier map, accounts from analytics.int_client_accounts), so a card stays cheap.
    """
    sections = [
        _latest(
            tables.get("stage.retail_orders"),
            "Orders",
            "order_id",
            identifiers.get("order_id", []),
            "order_date",
            ("order_date", "order_id", "product", "quantity", "sales", "channel"),
        ),
        _latest(
            tables.get("stage.web_sessions"),
            "Web sessions",
            "full_visitor_id",
            identifiers.get("visitor_id", []),
            "visit_start_time",
            ("visit_date", "device_category", "traffic_source", "pageviews", "time_on_site"),
        ),
    ]
    accounts_table = tables.get("analytics.int_client_accounts")
    accounts: list[int] = []
    if accounts_table is not None:
        from pyiceberg.expressions import EqualTo

        scan = accounts_table.scan(
            row_filter=EqualTo("customer_id", customer_id), selected_fields=("account_id",)
        )
        accounts = [a for a in scan.to_arrow().column("account_id").to_pylist() if a is not None]
    sections.append(
        _latest(
            tables.get("stage.transactions"),
            "Account movements",
            "account_id",
            accounts,
            "trans_datetime",
            ("trans_datetime", "account_id", "type", "operation", "amount", "balance"),
        )
    )
    return [section for section in sections if section is not None]


def _latest(
    table: Any, title: str, key: str, values: list[Any], order_by: str, columns: tuple[str, ...]
) -> ActivitySection | None:
    if table is None:
        return None
    present = {f.name for f in table.schema().fields}
    columns = tuple(c for c in columns if c in present)
    if not values or key not in present or order_by not in present:
        return ActivitySection(title, list(columns), [])
    from pyiceberg.expressions import In

    data = table.scan(row_filter=In(key, set(values)), selected_fields=tuple({*columns, order_by})).to_arrow()
    rows = data.sort_by([(order_by, "descending")]).slice(0, ACTIVITY_ROWS).to_pylist()
    note = f"latest {len(rows)} of {data.num_rows}" if data.num_rows > len(rows) else None
    return ActivitySection(
        title, list(columns), [[format_value(c, row.get(c)) for c in columns] for row in rows], note=note
    )


# --- pages ----------------------------------------------------------------------------------------


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _viewer(request: Request) -> Principal | None:
    """The signed-in principal; the first page a signed-in browser opens starts the lineage tracing."""
    principal = signed_in(request)
    if principal is not None:
        column_sources(request.app.state)
    return principal


def _to_sign_in(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)


def _safe_next(target: str | None) -> str:
    """Only a path of this site: an absolute URL or '//host' would make sign-in an open redirect."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def display_name(profile: dict[str, Any]) -> tuple[str, str]:
    """(name, initials) to head a card or a result: 'Customer 42' when the name is unknown or masked."""
    parts = [str(profile[c]) for c in ("first_name", "last_name") if profile.get(c) not in (None, "", MASK)]
    if not parts:
        return f"Customer {profile['customer_id']}", "#"
    return " ".join(parts), "".join(part[:1] for part in parts).upper()


def _masked_columns(request: Request, principal: Principal) -> frozenset[str]:
    return frozenset() if principal.role.pii else request.app.state.profile_pii


def _store_info(store: ProfileReader) -> dict[str, Any] | None:
    try:
        return store.info()
    except StoreError:
        return None


@router.get("/static/{name}")
def static_file(name: str) -> FileResponse:
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file():
        raise HTTPException(404, f"no static file {name}")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


@router.get("/sign-in")
def sign_in_page(request: Request, next: str | None = None) -> Response:
    return _render(request, "sign_in.html", {"next": _safe_next(next), "error": None, "principal": None})


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    key = (form.get("key") or [""])[0].strip()
    target = _safe_next((form.get("next") or ["/"])[0])
    principal = request.app.state.keys.check(key) if key else None
    if principal is None:
        context = {"next": target, "error": "That key is unknown or revoked.", "principal": None}
        return _render(request, "sign_in.html", context, status_code=401)
    request.state.principal = principal
    column_sources(request.app.state)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        KEY_COOKIE, key, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
    )
    return response


@router.post("/sign-out")
def sign_out() -> Response:
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(KEY_COOKIE, path="/")
    return response


@router.get("/")
def home(request: Request) -> Response:
    principal = _viewer(request)
    if principal is None:
        return _to_sign_in(request)
    info = _store_info(request.app.state.store)
    return _render(request, "home.html", {"principal": principal, "info": info, "q": ""})


@router.get("/search")
def search_page(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=500)] = 1,
) -> Response:
    principal = _viewer(request)
    if principal is None:
        return _to_sign_in(request)
    store = request.app.state.store
    q = q.strip()
    if not q:
        return RedirectResponse("/", status_code=303)
    masked = _masked_columns(request, principal)
    exact: list[tuple[str, dict[str, Any], str, str]] = []  # (kind label, profile, name, initials)
    seen: set[int] = set()
    try:
        if page == 1:
            for kind in LOOKUP_KINDS:
                for row in store.lookup(kind, q):
                    if row["customer_id"] not in seen:
                        seen.add(row["customer_id"])
                        shown = mask_row(row, masked)
                        exact.append((IDENTIFIER_LABELS[kind], shown, *display_name(shown)))
        total, found = store.search(q, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    except StoreError as exc:
        return _render(request, "error.html", {"principal": principal, "message": str(exc)}, 503)
    results: list[tuple[float, dict[str, Any], str, str]] = []
    for score, row in found:
        shown = mask_row(row, masked)
        results.append((score, shown, *display_name(shown)))
    request.state.rows = len(results) + len(exact)
    pages = max(1, -(-total // PAGE_SIZE))
    context = {
        "principal": principal,
        "q": q,
        "exact": exact,
        "results": results,
        "total": total,
        "page": page,
        "pages": pages,
        "page_numbers": _page_window(page, pages),
        "first_rank": (page - 1) * PAGE_SIZE + 1,
    }
    return _render(request, "search.html", context)


def _page_window(page: int, pages: int, width: int = 2) -> list[int | None]:
    """1 … 4 5 [6] 7 8 … 20: the first, the last and the pages near the current one (None: a gap)."""
    shown = sorted({1, pages, *range(max(1, page - width), min(pages, page + width) + 1)})
    window: list[int | None] = []
    for number in shown:
        if window and number - (window[-1] or 0) > 1:
            window.append(None)
        window.append(number)
    return window


@router.get("/customers/{customer_id}")
def customer_card(request: Request, customer_id: str) -> Response:
    principal = _viewer(request)
    if principal is None:
        return _to_sign_in(request)
    state = request.app.state
    document = None
    if customer_id.isdigit() and len(customer_id) <= MAX_ID_DIGITS:
        try:
            document = state.store.get_json(int(customer_id))
        except StoreError as exc:
            return _render(request, "error.html", {"principal": principal, "message": str(exc)}, 503)
    if document is None:
        request.state.rows = 0
        context = {"principal": principal, "customer_id": customer_id, "q": ""}
        return _render(request, "not_found.html", context, status_code=404)
    request.state.rows = 1
    profile = json.loads(document)
    masked = _masked_columns(request, principal)
    shown = mask_row(profile, masked)
    sources = column_sources(state)  # None while the tracing started by this page's _viewer runs
    identifiers = customer_identifiers(state.store, int(customer_id))
    try:
        tables = lake_tables(state)
        golden = golden_provenance(tables, int(customer_id))
        activity = recent_activity(tables, int(customer_id), identifiers)
        activity_error = None
    except (C360Error, OSError) as exc:
        golden, activity, activity_error = {}, [], str(exc)
    context = {
        "principal": principal,
        "q": "",
        "profile": shown,
        "name": display_name(shown)[0],
        "initials": display_name(shown)[1],
        "headline": [(label, format_value(c, shown.get(c))) for c, label in HEADLINE if c in shown],
        "badges": [(c, shown[c]) for c in BADGES if shown.get(c) not in (None, "")],
        "groups": build_card(card_layout(state), sources or {}, golden, shown, masked),
        "tracing": sources is None,
        "identifiers": [
            (kind, IDENTIFIER_LABELS.get(kind, kind), values)
            for kind, values in _shown_identifiers(identifiers, principal.role.pii).items()
        ],
        "activity": activity,
        "activity_error": activity_error,
        "masked": bool(masked),
    }
    return _render(request, "card.html", context)
