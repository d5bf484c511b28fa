"""The web pages of the serving app, driven in real headless Chromium against a published demo lake.

The browser signs in with an API key, searches, opens a customer card and reads what it shows;
the values are checked against the lake and the serving store, not against the page's own code.
"""

from __future__ import annotations

import re
import sqlite3
import struct
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from c360.config import Project, load_project
from c360.demo import run_demo
from c360.lake.catalog import open_catalog
from c360.serve import web
from c360.serve.app import create_app
from c360.serve.auth import create_key
from c360.serve.store import open_store, publish, store_path
from tests.servers import uvicorn_thread
from tests.test_serve import LATEST, lake

DIMENSION_HEADINGS = (
    "Profile",
    "Demographic",
    "Geographic",
    "Loyalty",
    "Financial",
    "Digital",
    "Shopping",
    "Value",
    "Risk",
)


@dataclass
class Server:
    url: str
    app: FastAPI


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    directory = tmp_path_factory.mktemp("web") / "project"
    run_demo(directory, customers=400, seed=3)
    project = load_project(directory)
    publish(project)
    return project


@pytest.fixture(scope="module")
def keys(project: Project) -> dict[str, str]:
    return {role: create_key(project, role) for role in ("admin", "analyst", "app")}


@pytest.fixture(scope="module")
def server(project: Project) -> Iterator[Server]:
    """The app under uvicorn on a free port, in a thread of the test process."""
    app = create_app(project)
    with uvicorn_thread(app) as base:
        yield Server(base, app)


@pytest.fixture(scope="module")
def client(project: Project) -> Iterator[TestClient]:
    with TestClient(create_app(project)) as client:
        yield client


def shopper(project: Project) -> dict[str, Any]:
    """The customer with the most retail order lines, with an e-mail (the card's activity has rows)."""
    return lake(
        project,
        f"SELECT * FROM analytics.customer_360 WHERE {LATEST} AND orders > 0 AND email IS NOT NULL "
        "AND first_name IS NOT NULL AND last_name IS NOT NULL AND phone IS NOT NULL "
        "ORDER BY order_lines DESC, customer_id LIMIT 1",
    )[0]


# Values each identifier kind may take, from the lake; the store's own lookup says which are the
# customer's, so the tests check the card through the store's public interface only.
CANDIDATES = {
    "client_id": "SELECT DISTINCT CAST(client_id AS VARCHAR) AS v FROM stage.crm",
    "email": "SELECT DISTINCT lower(trim(email)) AS v FROM stage.crm "
    "UNION SELECT lower(trim(email)) FROM stage.store_users "
    "UNION SELECT lower(trim(contact_email)) FROM stage.retail_orders",
    "order_id": "SELECT DISTINCT order_id AS v FROM stage.retail_orders",
    "visitor_id": "SELECT DISTINCT full_visitor_id AS v FROM stage.web_visitors",
}


def mapped(project: Project, customer_id: int, kind: str) -> list[str]:
    """The values of ``kind`` that the serving store's lookup maps to the customer, sorted."""
    store = open_store(project)
    values = [row["v"] for row in lake(project, CANDIDATES[kind]) if row["v"] is not None]
    return sorted(v for v in values if customer_id in {p["customer_id"] for p in store.lookup(kind, v)})


def maps_to(project: Project, kind: str, value: str) -> set[int]:
    return {profile["customer_id"] for profile in open_store(project).lookup(kind, value)}


def wait_for_sources(server: Server) -> None:
    """Column lineage is traced in the background once per app: let it finish before the card."""
    web.column_sources(server.app.state)
    server.app.state.column_sources.result(timeout=300)


def sign_in(page: Any, server: Server, key: str, path: str = "/") -> None:
    page.goto(server.url + path)
    assert "/sign-in" in page.url
    page.fill("#key", key)
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state()


def png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """(width, height, pixels) of an 8-bit RGB or RGBA PNG: just enough decoding to look at colours."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    size = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * size
    previous, pixels = bytearray(stride), []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up = previous[i]
            corner = previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 0xFF
        pixels.extend(tuple(line[x : x + 3]) for x in range(0, stride, size))
        previous = line
    return width, height, pixels


def field_value(page: Any, column: str) -> str:
    return page.locator(f"tr.field[data-column='{column}'] td.value .v").inner_text().strip()


# --- in the browser ---------------------------------------------------------------------------------


def test_sign_in_search_and_read_a_customer_card_in_chromium(
    page: Any, server: Server, keys: dict, project: Project, tmp_path: Path
) -> None:
    customer = shopper(project)
    cid = customer["customer_id"]
    sign_in(page, server, keys["admin"])
    customers = lake(project, f"SELECT count(*) AS n FROM analytics.customer_360 WHERE {LATEST}")[0]["n"]
    assert page.locator(".facts dd").first.inner_text() == f"{customers:,}"

    # Search by e-mail: the exact identifier match leads to the customer.
    page.fill(".hero-search input", customer["email"].upper())
    page.press(".hero-search input", "Enter")
    page.wait_for_load_state()
    exact = page.locator("ol.exact a.result-link")
    assert f"/customers/{cid}" in [exact.nth(i).get_attribute("href") for i in range(exact.count())]
    wait_for_sources(server)
    page.locator(f"ol.exact a[href='/customers/{cid}']").click()
    page.wait_for_load_state()
    assert page.url == f"{server.url}/customers/{cid}"

    # Identity: name, e-mail, and every identifier the store maps to the customer.
    assert page.locator("#customer-name").inner_text() == f"{customer['first_name']} {customer['last_name']}"
    assert page.locator("#customer-email").inner_text() == customer["email"]
    for kind in ("client_id", "email", "order_id"):
        shown = page.locator(f".identifier-{kind} code.chip").all_inner_texts()
        assert shown == mapped(project, cid, kind)[:12], kind
    assert customer["email"] in page.locator(".identifier-email code.chip").all_inner_texts()
    phones = page.locator(".identifier-phone code.chip").all_inner_texts()
    assert phones and all(cid in maps_to(project, "phone", phone) for phone in phones)
    records = page.locator(".identifier-record li code").all_text_contents()  # inside a closed <details>
    assert page.locator(".identifier-record summary").inner_text().startswith(f"{len(records)} source record")
    assert records and all(cid in maps_to(project, "record", record) for record in records)

    # Every dimension, with values as the lake has them.
    headings = page.locator(".dimension h2").all_inner_texts()
    assert headings == list(DIMENSION_HEADINGS)
    assert field_value(page, "age_band") == customer["age_band"]
    assert field_value(page, "value_tier") == customer["value_tier"]
    assert field_value(page, "orders") == f"{customer['orders']:,}"
    assert field_value(page, "lifetime_value") == f"{float(customer['lifetime_value']):,.2f}"
    assert field_value(page, "snapshot_date") == customer["snapshot_date"].isoformat()

    # Where values came from: the source tables behind each column.
    sources = page.locator("tr.field[data-column='marital_status'] td.source")
    assert "crm" in sources.locator(".src").all_inner_texts()
    assert "stage.crm.marital_status" in sources.get_attribute("title")
    assert "retail_orders" in page.locator("tr.field[data-column='revenue'] .src").all_inner_texts()

    # Recent activity: the newest order lines of the customer's orders.
    assert mapped(project, cid, "order_id"), "a customer with orders has order ids in the map"
    lines = lake(
        project,
        "SELECT order_date FROM stage.retail_orders WHERE order_id IN ("
        + ", ".join(f"'{order}'" for order in mapped(project, cid, "order_id"))
        + ") ORDER BY order_date DESC",
    )
    orders = page.locator(".activity[data-section='Orders'] tbody tr")
    assert orders.count() == min(5, len(lines))
    assert orders.first.locator("td").first.inner_text() == lines[0]["order_date"].isoformat()

    screenshot = tmp_path / "customer_card.png"
    page.screenshot(path=str(screenshot), full_page=True)
    data = screenshot.read_bytes()
    width, height = struct.unpack(">II", data[16:24])
    assert len(data) > 50_000 and width == 1280 and height > 900
    _, _, pixels = png_pixels(page.screenshot(clip={"x": 0, "y": 0, "width": 640, "height": 260}))
    colours = Counter(pixels)
    assert len(colours) > 50, "the card looks blank"
    assert colours.most_common(1)[0][1] / len(pixels) < 0.8


def test_a_role_without_pii_sees_masked_values_in_chromium(
    page: Any, server: Server, keys: dict, project: Project
) -> None:
    customer = shopper(project)
    sign_in(page, server, keys["analyst"], f"/customers/{customer['customer_id']}")
    assert page.url == f"{server.url}/customers/{customer['customer_id']}"
    local, domain = customer["email"].split("@")
    assert page.locator("#customer-name").inner_text() == f"Customer {customer['customer_id']}"
    assert field_value(page, "first_name") == "***"
    assert field_value(page, "last_name") == "***"
    assert field_value(page, "email") == f"{local[0]}***@{domain}"
    emails = mapped(project, customer["customer_id"], "email")
    assert customer["email"] in emails
    masked = [f"{e.split('@')[0][0]}***@{e.split('@')[1]}" for e in emails]
    assert page.locator(".identifier-email code.chip").all_inner_texts() == masked
    assert page.locator(".who .role").inner_text() == "analyst"
    text = page.locator("body").inner_text()
    for secret in (customer["last_name"], customer["email"], customer["phone"]):
        if secret:
            assert secret not in text
    # What is not personal data still shows.
    assert field_value(page, "age_band") == customer["age_band"]
    assert field_value(page, "value_tier") == customer["value_tier"]


def test_the_app_role_sees_personal_data_in_chromium(
    page: Any, server: Server, keys: dict, project: Project
) -> None:
    """``app`` is the role of customer-facing applications: it has the ``pii`` right."""
    customer = shopper(project)
    sign_in(page, server, keys["app"], f"/customers/{customer['customer_id']}")
    assert field_value(page, "last_name") == customer["last_name"]
    phones = page.locator(".identifier-phone code.chip").all_inner_texts()
    assert customer["phone"] in phones
    assert all(customer["customer_id"] in maps_to(project, "phone", phone) for phone in phones)


def test_unknown_customer_shows_the_404_page_in_chromium(page: Any, server: Server, keys: dict) -> None:
    sign_in(page, server, keys["admin"])
    response = page.goto(f"{server.url}/customers/999999999")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "No customer 999999999"
    assert page.goto(f"{server.url}/customers/not-a-number").status == 404
    assert page.goto(f"{server.url}/customers/{'9' * 30}").status == 404


def test_field_filter_narrows_the_card_in_chromium(
    page: Any, server: Server, keys: dict, project: Project
) -> None:
    sign_in(page, server, keys["admin"], f"/customers/{shopper(project)['customer_id']}")
    page.fill("#field-filter", "balance")
    visible = page.locator("tr.field:visible").evaluate_all("rows => rows.map(r => r.dataset.column)")
    assert visible and all(
        "balance" in column or "balance" in field_value(page, column) for column in visible
    )
    assert "current_balance" in visible and "age_band" not in visible
    assert page.locator(".dimension#dim_demographic").is_hidden()


# --- over HTTP ----------------------------------------------------------------------------------------


def sign_in_client(client: TestClient, key: str, target: str = "/") -> Any:
    client.cookies.clear()
    return client.post("/sign-in", data={"key": key, "next": target}, follow_redirects=False)


def test_pages_need_a_key_and_the_cookie_is_http_only(client: TestClient, keys: dict) -> None:
    client.cookies.clear()
    response = client.get("/search", params={"q": "anna"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fsearch%3Fq%3Danna"
    refused = sign_in_client(client, "c360_nope_nope")
    assert refused.status_code == 401 and "unknown or revoked" in refused.text
    accepted = sign_in_client(client, keys["analyst"], "/search?q=anna")
    assert accepted.status_code == 303 and accepted.headers["location"] == "/search?q=anna"
    cookie = accepted.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    # The cookie is the key: the API accepts it too, with the key's role.
    assert client.get("/v1/segments").status_code == 200
    assert client.post("/v1/sql", json={"sql": "SELECT 1"}).status_code == 200  # analyst may run SQL
    client.post("/sign-out", follow_redirects=False)
    assert client.get("/v1/segments").status_code == 401


def test_sign_in_never_redirects_off_site(client: TestClient, keys: dict) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        assert sign_in_client(client, keys["admin"], target).headers["location"] == "/"


def test_search_page_ranks_paginates_and_matches_identifiers(
    client: TestClient, keys: dict, project: Project
) -> None:
    sign_in_client(client, keys["admin"])
    target = lake(
        project,
        f"SELECT customer_id, last_name FROM analytics.customer_360 WHERE {LATEST} "
        "AND length(last_name) >= 7 "
        "AND last_name IN (SELECT last_name FROM analytics.customer_360 GROUP BY 1 HAVING count(*) = 1) "
        "ORDER BY customer_id LIMIT 1",
    )[0]
    typo = target["last_name"][:3] + target["last_name"][4:]
    first = re.findall(r'href="/customers/(\d+)"', client.get("/search", params={"q": typo}).text)
    assert int(first[0]) == target["customer_id"]
    page1 = client.get("/search", params={"q": "gmail"}).text
    page2 = client.get("/search", params={"q": "gmail", "page": 2}).text
    ids1 = re.findall(r'href="/customers/(\d+)"', page1)
    ids2 = re.findall(r'href="/customers/(\d+)"', page2)
    assert len(ids1) == web.PAGE_SIZE and ids2 and not set(ids1) & set(ids2)
    assert 'rel="next" href="/search?q=gmail&page=2"' in page1
    assert 'aria-current="page">2<' in page2
    client_id = mapped(project, target["customer_id"], "client_id")[0]
    exact = client.get("/search", params={"q": client_id}).text
    assert f'href="/customers/{target["customer_id"]}"' in exact.split("Exact identifier match")[1]


def test_card_views_are_audited(client: TestClient, keys: dict, project: Project) -> None:
    cid = shopper(project)["customer_id"]
    sign_in_client(client, keys["app"])
    assert client.get(f"/customers/{cid}").status_code == 200
    client.app.state.audit.flush()
    with sqlite3.connect(store_path(project)) as con:
        rows = con.execute(
            "SELECT key_id, role, status, rows FROM audit_log WHERE route = '/customers/{customer_id}' "
            "AND params LIKE ? ORDER BY id",
            (f'%"{cid}"%',),
        ).fetchall()
    assert rows[-1] == (keys["app"].split("_")[1], "app", 200, 1)


def test_card_shows_where_golden_values_came_from(client: TestClient, keys: dict, project: Project) -> None:
    """identity.golden keeps each golden value's source and time: the card shows them beside it."""
    from datetime import datetime

    import pyarrow as pa

    from c360.lake.tables import ensure_table, load_table

    cid = shopper(project)["customer_id"]
    catalog = open_catalog(project)
    if load_table(catalog, "identity.golden") is None:  # a lake built before identity resolution
        schema = pa.schema(
            [
                ("customer_id", pa.int64()),
                ("first_name_source", pa.string()),
                ("first_name_at", pa.timestamp("us")),
            ]
        )
        row = {"customer_id": cid, "first_name_source": "crm", "first_name_at": datetime(2024, 3, 1, 9, 30)}
        ensure_table(catalog, "identity.golden", schema).append(pa.Table.from_pylist([row], schema=schema))
    expected = lake(
        project, f"SELECT first_name_source, first_name_at FROM identity.golden WHERE customer_id = {cid}"
    )[0]
    sign_in_client(client, keys["analyst"])
    html = client.get(f"/customers/{cid}").text
    row = re.search(r'data-column="first_name">(.*?)</tr>', html, re.DOTALL).group(1)
    shown = re.search(r'class="provenance"[^>]*>([^<]*)<', row).group(1)
    at = expected["first_name_at"]
    assert shown == ", ".join([expected["first_name_source"], *([f"{at:%Y-%m-%d %H:%M}"] if at else [])])
    assert "***" in row  # the value stays masked for the analyst; where it came from is not PII


def test_card_lists_the_latest_web_sessions(client: TestClient, keys: dict, project: Project) -> None:
    visitor = lake(
        project,
        f"SELECT customer_id, sessions FROM analytics.customer_360 WHERE {LATEST} AND sessions > 0 "
        "ORDER BY sessions DESC, customer_id LIMIT 1",
    )[0]
    visitor_ids = mapped(project, visitor["customer_id"], "visitor_id")
    assert visitor_ids, "a customer with web sessions has visitor ids in the map"
    visitors = ", ".join(f"'{v}'" for v in visitor_ids)
    sessions = lake(
        project,
        f"SELECT visit_date FROM stage.web_sessions WHERE full_visitor_id IN ({visitors}) "
        "ORDER BY visit_start_time DESC",
    )
    sign_in_client(client, keys["admin"])
    html = client.get(f"/customers/{visitor['customer_id']}").text
    section = html.split('data-section="Web sessions"')[1].split("</table>")[0]
    dates = re.findall(r"<tr><td>([0-9-]+)</td>", section)
    assert dates == [row["visit_date"].isoformat() for row in sessions[:5]]


def test_ids_beyond_64_bits_are_client_errors(client: TestClient, keys: dict) -> None:
    """The page says 'no such customer'; the API refuses the id (422) instead of overflowing (500)."""
    huge = "9" * 30
    sign_in_client(client, keys["admin"])
    assert client.get(f"/customers/{huge}").status_code == 404
    assert client.get(f"/v1/customers/{huge}").status_code == 422
    assert client.get(f"/v1/customers/{huge}/history").status_code == 422
