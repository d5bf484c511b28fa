"""Retail sales orders: a B2B software-sales file whose contacts are people.

Shaped like the reference ``Retail-SaaS-Sales.csv``: UTF-8 with a BOM, a header, one line per
order line, ``Order_Date`` as M/D/YYYY with the reference file's bug (October written as month
50), and a ``client_id`` column that the sales team fills in when they know the contact is a bank
client: often empty, sometimes wrong. Contacts are typed by sales reps: nicknames, typos,
"Last, First", old e-mails, any phone notation.

``retail_orders_2.csv`` is a later batch whose schema drifted: a new ``Channel`` column,
``Contact_Email`` renamed ``Email``, and ``Quantity`` widened to decimals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.simulate import catalog, dirt, places, variants
from c360.simulate.clock import RETAIL_FIRST, RETAIL_LAST, RETAIL_SPLIT, ymd
from c360.simulate.crm import Clients
from c360.simulate.fmt import compact_date, csv_field, join, text, us_date, write_text_file
from c360.simulate.people import Population
from c360.simulate.rand import distinct_ints, expand, pick, rng_for
from c360.simulate.truth import Truth, person_ids

COLUMNS = [
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
DRIFTED = [c if c != "Contact_Email" else "Email" for c in COLUMNS] + ["Channel"]
WRONG_REFERENCE = "wrong_reference"


@dataclass
class Contacts:
    """Retail contacts (people) and how this system knows them."""

    person: np.ndarray
    company: np.ndarray
    client_id: pa.Array  # text, null when the reps did not record one
    wrong_client: np.ndarray  # the recorded client_id belongs to someone else
    name: pa.Array  # the name as the reps usually type it
    email: pa.Array
    phone: pa.Array


def _client_of_person(pop: Population, clients: Clients) -> np.ndarray:
    """The (first) client id of each person, or -1."""
    out = np.full(pop.size, -1, dtype=np.int64)
    out[clients.person[::-1]] = clients.client_id[::-1]  # first registration wins
    return out


def _contacts(rng: np.random.Generator, pop: Population, clients: Clients) -> Contacts:
    person = np.flatnonzero(pop.in_retail)
    n = person.size
    company = rng.integers(0, len(catalog.COMPANIES), size=n)
    known = _client_of_person(pop, clients)[person]
    recorded = np.where((known >= 0) & (rng.random(n) < 0.45), known, -1)
    wrong = rng.random(n) < 0.02
    others = clients.client_id[rng.integers(0, clients.client_id.size, size=n)]
    wrong &= others != known
    recorded = np.where(wrong, others, recorded)
    client_id = pc.if_else(pa.array(recorded >= 0), text(recorded), pa.scalar(None, pa.string()))
    style = rng.choice(6, size=n, p=[0.3, 0.2, 0.2, 0.15, 0.1, 0.05])
    return Contacts(
        person=person,
        company=company,
        client_id=client_id,
        wrong_client=wrong,
        name=variants.informal_name(rng, pop, person, maiden_rate=0.3),
        email=variants.informal_email(rng, pop, person, missing_rate=0.25, stale_rate=0.15),
        phone=pc.if_else(
            pa.array(rng.random(n) < 0.3),
            pa.scalar(None, pa.string()),
            variants.phone_text(pop.phone_cc[person], pop.phone[person], style),
        ),
    )


def _license_keys(rng: np.random.Generator, n: int) -> pa.Array:
    alphabet = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype=np.uint8)
    codes = alphabet[rng.integers(0, alphabet.size, size=(n, 10))]
    return pc.cast(pa.array(codes.view("S10").ravel()), pa.string())


def _money(values: np.ndarray, decimals: int) -> pa.Array:
    return text(np.round(values, decimals))


def _batch(
    rng: np.random.Generator,
    pop: Population,
    c: Contacts,
    orders_per_contact: np.ndarray,
    first_day: int,
    last_day: int,
    first_row: int,
    drifted: bool,
) -> tuple[dict[str, pa.Array], np.ndarray, np.ndarray, np.ndarray]:
    """One batch of order lines: columns (as text), the contact of each row, its date, its month."""
    order_contact, _ = expand(orders_per_contact)
    shuffle = rng.permutation(order_contact.size)
    order_contact = order_contact[shuffle]
    n_orders = order_contact.size
    order_day = rng.integers(first_day, last_day + 1, size=n_orders)
    order_no = distinct_ints(rng, 100_000, max(1_000_000, 100_000 + 4 * n_orders), n_orders)
    lines = np.minimum(1 + rng.poisson(1.1, size=n_orders), 14)
    row_order, _ = expand(lines)
    n = row_order.size
    contact = order_contact[row_order]
    person = c.person[contact]
    day = order_day[row_order]
    geo = places.geography()
    city = pop.new_city[person]
    country = geo.city_country[city]

    year, month, _ = ymd(day)
    region = pc.take(geo.region, pa.array(country))
    order_id = join(region, "-", text(year), "-", text(order_no[row_order]))
    # the reference system writes October's month as 50 (817 such dates in the reference file)
    good_date = us_date(day)
    october = month == 10
    bad_date = join("50", pc.utf8_slice_codeunits(good_date, 2, 20))
    order_date = pc.if_else(pa.array(october), bad_date, good_date)

    product = rng.choice(len(catalog.PRODUCTS), size=n, p=_p([p[1] for p in catalog.PRODUCTS]))
    unit = np.array([p[2] for p in catalog.PRODUCTS])[product] * rng.lognormal(0, 0.6, size=n)
    quantity = catalog.QUANTITIES[rng.choice(catalog.QUANTITIES.size, size=n, p=_p(catalog.QUANTITY_P))]
    quantity_value = quantity.astype(np.float64)
    if drifted:  # seat licences can now be bought in halves
        quantity_value = np.where(rng.random(n) < 0.3, quantity_value - 0.5, quantity_value)
    discount = catalog.DISCOUNTS[rng.choice(catalog.DISCOUNTS.size, size=n, p=_p(catalog.DISCOUNT_P))]
    sales = np.round(unit * quantity_value * (1 - discount), 4)
    margin = np.where(discount >= 0.5, rng.uniform(-1.2, -0.1, n), rng.normal(0.18, 0.12, n))
    profit = np.round(sales * margin, 4)
    segment = rng.choice(3, size=n, p=catalog.SEGMENT_P)

    # most lines carry the contact as the reps usually type it; some were typed afresh
    again = rng.random(n) < 0.15
    retyped = variants.informal_name(rng, pop, person[again])
    name = pc.take(c.name, pa.array(contact))
    if again.any():
        name = pc.replace_with_mask(name, pa.array(again), retyped)
    companies = pa.array([x[0] for x in catalog.COMPANIES])
    industries = pa.array([x[1] for x in catalog.COMPANIES])
    cols = {
        "Row_ID": text(first_row + np.arange(n)),
        "Order_ID": order_id,
        "Order_Date": order_date,
        "Date_Key": compact_date(day),
        "Contact_Name": name,
        "Country": pc.take(geo.country_name, pa.array(country)),
        "City": pc.take(geo.city, pa.array(city)),
        "Region": region,
        "Subregion": pc.take(geo.subregion, pa.array(country)),
        "Customer": pc.take(companies, pa.array(c.company[contact])),
        "client_id": pc.take(c.client_id, pa.array(contact)),
        "Industry": pc.take(industries, pa.array(c.company[contact])),
        "Segment": pc.take(pa.array(catalog.SEGMENTS), pa.array(segment)),
        "Product": pc.take(pa.array([p[0] for p in catalog.PRODUCTS]), pa.array(product)),
        "License": _license_keys(rng, n),
        "Sales": _money(sales, 4),
        "Quantity": _decimal1(quantity_value) if drifted else text(quantity),
        "Discount": text(discount),
        "Profit": _money(profit, 4),
        "Contact_Email": pc.take(c.email, pa.array(contact)),
        "Contact_Phone": pc.take(c.phone, pa.array(contact)),
    }
    if drifted:
        cols["Email"] = cols.pop("Contact_Email")
        cols["Channel"] = pc.take(
            pa.array(catalog.CHANNELS), pa.array(rng.choice(4, size=n, p=[0.5, 0.2, 0.2, 0.1]))
        )
    return cols, contact, day, october


def _decimal1(values: np.ndarray) -> pa.Array:
    whole = np.floor(values).astype(np.int64)
    tenth = np.round((values - whole) * 10).astype(np.int64)
    return join(text(whole), ".", text(tenth))


def _p(weights: list[float] | np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def _set(col: pa.Array, rows: np.ndarray, value: str | pa.Array | None) -> pa.Array:
    if rows.size == 0:
        return col
    mask = np.zeros(len(col), dtype=bool)
    mask[rows] = True
    if value is None:
        vals = pa.nulls(rows.size, pa.string())
    elif isinstance(value, str):
        vals = pa.repeat(value, rows.size)
    else:
        vals = value
    return pc.replace_with_mask(col, pa.array(mask), vals.cast(pa.string()))


def _write(
    rng: np.random.Generator,
    path: Path,
    names: list[str],
    cols: dict[str, pa.Array],
    contact: np.ndarray,
    october: np.ndarray,
    c: Contacts,
    truth: Truth,
) -> int:
    n = len(cols["Row_ID"])
    field_dirt: list[tuple[np.ndarray, str]] = [(np.flatnonzero(october), dirt.IMPOSSIBLE_DATE)]
    rows = pick(rng, n, 0.0005, among=np.flatnonzero(~october))
    feb30 = join("2/30/", pc.utf8_slice_codeunits(cols["Date_Key"].take(pa.array(rows)), 0, 4))
    cols["Order_Date"] = _set(cols["Order_Date"], rows, feb30)
    field_dirt.append((rows, dirt.IMPOSSIBLE_DATE))
    rows = pick(rng, n, 0.002)
    cols["Sales"] = _set(cols["Sales"], rows, None)
    field_dirt.append((rows, dirt.NULL))
    rows = pick(rng, n, 0.001)
    cols["Contact_Name"] = _set(cols["Contact_Name"], rows, None)
    field_dirt.append((rows, dirt.NULL))
    rows = pick(rng, n, 0.001)
    cols["Quantity"] = _set(cols["Quantity"], rows, join(cols["Quantity"].take(pa.array(rows)), " units"))
    field_dirt.append((rows, dirt.WRONG_TYPE))
    field_dirt.append((np.flatnonzero(c.wrong_client[contact]), WRONG_REFERENCE))

    records = join(*[csv_field(cols[k]) for k in names], sep=",")
    plan = dirt.plan_with_duplicates(rng, n, 0.005, header_lines=1)
    lines = records.take(pa.array(plan.order))
    keys = cols["Row_ID"]
    broken = np.zeros(0, dtype=np.int64)
    for kind in (dirt.MALFORMED_SHORT, dirt.MALFORMED_LONG):
        pos = dirt.originals(plan, rng, max(1, n // 20_000), exclude=broken)
        lines = dirt.break_lines(lines, pos, kind, rng)
        truth.dirt.add(
            "retail_orders", path, plan.line_numbers(pos), keys.take(pa.array(plan.order[pos])), kind
        )
        broken = np.concatenate([broken, pos])
    written = write_text_file(path, lines, header=",".join(names), bom=True)
    for rows, kind in field_dirt:
        truth.dirt.add("retail_orders", path, plan.lines_of(rows), keys.take(pa.array(rows)), kind)
    truth.dirt.add(
        "retail_orders", path, plan.copy_lines(), keys.take(pa.array(plan.order[plan.copy])), dirt.DUPLICATE
    )
    return written


def generate(pop: Population, clients: Clients, seed: int, out: Path, truth: Truth) -> tuple[list[Path], int]:
    """Write both retail batches; returns the files and their data line count."""
    rng = rng_for(seed, "retail")
    c = _contacts(rng, pop, clients)
    n = c.person.size
    first_orders = 1 + rng.poisson(1.0, size=n)
    later_orders = np.where(rng.random(n) < 0.3, 1 + rng.poisson(0.5, size=n), 0)
    base = out / "retail"
    paths = [base / "retail_orders.csv", base / "retail_orders_2.csv"]
    cols, contact, _, october = _batch(rng, pop, c, first_orders, RETAIL_FIRST, RETAIL_SPLIT - 1, 1, False)
    total = _write(rng, paths[0], COLUMNS, cols, contact, october, c, truth)
    truth.record("retail_orders", cols["Row_ID"], person_ids(pop.person_id, c.person[contact]))
    next_row = len(cols["Row_ID"]) + 1
    cols, contact, _, october = _batch(rng, pop, c, later_orders, RETAIL_SPLIT, RETAIL_LAST, next_row, True)
    total += _write(rng, paths[1], DRIFTED, cols, contact, october, c, truth)
    truth.record("retail_orders", cols["Row_ID"], person_ids(pop.person_id, c.person[contact]))
    return paths, total
