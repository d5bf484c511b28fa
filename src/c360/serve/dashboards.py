"""The KPI dashboards of the web app: the page ``c360 report`` writes, re-rendered per GET filter.

``/dashboards?from=YYYY-MM-DD&to=YYYY-MM-DD&category=CODE`` shows the KPIs for that range and
category; ``/dashboards/report.html`` (same parameters) downloads it as a self-contained file.
Like the other pages, they need a signed-in browser (the key cookie) or an API key header; a
browser without one is sent to the sign-in page and back.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from c360.errors import C360Error
from c360.report.data import Filters
from c360.report.html import PageForm, render
from c360.serve.deps import signed_in

router = APIRouter(include_in_schema=False)
DayParam = Annotated[str, Query(alias="from", max_length=10)]


def _day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"'{name}' must be a date YYYY-MM-DD, not '{value}'") from None


def _filters(start: str, end: str, category: str) -> Filters:
    try:
        return Filters(_day(start, "from"), _day(end, "to"), category.strip() or None)
    except C360Error as exc:
        raise HTTPException(400, str(exc)) from None


def _to_sign_in(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)


def _page(request: Request, start: str, end: str, category: str) -> str:
    filters = _filters(start, end, category)
    form = PageForm("/dashboards", start, end, category)
    return render(request.app.state.catalog(), filters, form)


@router.get("/dashboards")
def dashboards(
    request: Request,
    start: DayParam = "",
    end: Annotated[str, Query(alias="to", max_length=10)] = "",
    category: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    if signed_in(request) is None:
        return _to_sign_in(request)
    return HTMLResponse(_page(request, start, end, category))


@router.get("/dashboards/report.html")
def dashboards_download(
    request: Request,
    start: DayParam = "",
    end: Annotated[str, Query(alias="to", max_length=10)] = "",
    category: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    if signed_in(request) is None:
        return _to_sign_in(request)
    headers = {"Content-Disposition": 'attachment; filename="c360-report.html"'}
    return HTMLResponse(render(request.app.state.catalog(), _filters(start, end, category)), headers=headers)
