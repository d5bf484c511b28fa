"""The /dashboards pages of the web app, served by uvicorn and driven in headless Chromium: sign-in,
the charts of the store of ``test_report``, the filter form, and the download."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from c360.config import Project
from c360.serve.app import create_app
from c360.serve.auth import create_key
from c360.serve.dashboards import router
from tests.servers import uvicorn_thread
from tests.test_report import DAYS, EVENTS, build_click_project, data


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return build_click_project(tmp_path_factory.mktemp("dashboards"))


@pytest.fixture(scope="module")
def key(store: Project) -> str:
    return create_key(store, "analyst")


@pytest.fixture(scope="module")
def server(store: Project) -> Iterator[str]:
    app = create_app(store)
    if not any(getattr(route, "path", None) == "/dashboards" for route in app.routes):
        app.include_router(router)  # until app.py includes it itself
    with uvicorn_thread(app) as base:
        yield base


def sign_in(page: Any, base: str, key: str, target: str) -> None:
    page.goto(base + target)
    assert page.url.startswith(base + "/sign-in")
    page.fill("input[name=key]", key)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(base + target)


def test_signed_out_browsers_are_sent_to_sign_in_and_back(server: str, key: str, page: Any) -> None:
    sign_in(page, server, key, "/dashboards?category=electronics")
    assert page.locator("select[name=category]").input_value() == "electronics"


def test_dashboards_draw_the_kpis_and_filter_with_the_form(
    server: str, key: str, page: Any, tmp_path: Path
) -> None:
    sign_in(page, server, key, "/dashboards")
    page.screenshot(path=str(tmp_path / "dashboards.png"), full_page=True)
    views = '#panel-funnel .datum[data-series="views"]'
    assert data(page, views, "data-label") == DAYS
    assert [int(v) for v in data(page, views, "data-value")] == [2, 2, 3]
    assert data(page, "#panel-revenue .datum", "data-tip") == [
        "2024-06-03 · revenue: 100.00",
        "2024-06-04 · revenue: 20.00",
        "2024-06-05 · revenue: 100.00",
    ]
    assert page.locator("#panel-hourly .datum").count() == 24
    quarantined = page.locator('#quality-sources tr[data-source="clickstream"] td').all_text_contents()
    assert quarantined[2:5] == [str(len(EVENTS) + 3), str(len(EVENTS)), "3"]

    page.fill("input[name=from]", "2024-06-04")
    page.fill("input[name=to]", "2024-06-05")
    page.select_option("select[name=category]", "appliances.kitchen.kettle")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/dashboards?from=2024-06-04&to=2024-06-05&category=appliances.kitchen.kettle")
    page.screenshot(path=str(tmp_path / "dashboards-kettles.png"), full_page=True)
    assert (
        page.locator("#scope").text_content()
        == "2024-06-04 to 2024-06-05, category appliances.kitchen.kettle"
    )
    assert data(page, views, "data-label") == DAYS[1:]
    assert [int(v) for v in data(page, views, "data-value")] == [1, 1]
    assert data(page, "#panel-brands .datum", "data-label") == ["tefal (appliances.kitchen.kettle)"]
    assert page.locator("input[name=from]").input_value() == "2024-06-04"

    page.fill("input[name=from]", "2031-01-01")
    page.fill("input[name=to]", "")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/dashboards?from=2031-01-01*")
    assert page.locator("#panel-funnel .empty").text_content() == "No data for this range."


def test_api_key_header_download_and_bad_input(server: str, key: str) -> None:
    assert httpx.get(server + "/dashboards", follow_redirects=False).status_code == 303
    headers = {"X-API-Key": key}
    download = httpx.get(server + "/dashboards/report.html?from=2024-06-05", headers=headers)
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="c360-report.html"'
    assert 'data-label="2024-06-05"' in download.text and 'data-label="2024-06-03"' not in download.text
    assert '<form class="filters"' not in download.text  # a file opened from disk has no server to ask
    bad = httpx.get(server + "/dashboards?from=June", headers=headers)
    assert bad.status_code == 400
    assert "'from' must be a date YYYY-MM-DD, not 'June'" in bad.text
    inverted = httpx.get(server + "/dashboards?from=2024-06-05&to=2024-06-01", headers=headers)
    assert inverted.status_code == 400
    assert "the date range is empty" in inverted.text
