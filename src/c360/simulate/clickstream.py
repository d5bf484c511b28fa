"""The online store: its user accounts and its clickstream, attacks included.

``store_users/store_users.csv`` holds the store's accounts: the same people as the bank's, typed
by themselves in a web form (nicknames, capitals, old e-mail addresses, any phone notation),
and a few people with two accounts. ``clickstream/events_<YYYYMMDD>.csv`` holds one file per
day in the REES46 event format plus ``ip`` and ``user_agent``: sessions that view, cart, remove
and buy; the attack episodes of :mod:`c360.simulate.attacks`; and events that arrive late (in
a later day's file) or out of order (after events that happened later).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.simulate import agents, attacks, dirt, variants
from c360.simulate.catalog import StoreCatalog, store_catalog
from c360.simulate.clock import CLICK_DAYS, CLICK_FIRST, STORE_FIRST, TODAY
from c360.simulate.events import CART, EVENT_TYPES, PURCHASE, REMOVE, VIEW, Events
from c360.simulate.fmt import (
    US_PER_SECOND,
    compact_date,
    csv_field,
    csv_quote_pool,
    datetime_text,
    iso_date,
    join,
    text,
    write_text_file,
)
from c360.simulate.people import Population
from c360.simulate.rand import distinct_ints, expand, ipv4_text, pick, public_ipv4, rng_for, uuid4_text
from c360.simulate.truth import Truth, person_ids

USERS_HEADER = "user_id,full_name,email,phone,city,signup_date"
EVENTS_HEADER = ",".join([
    "event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id",
    "user_session", "ip", "user_agent",
])  # fmt: skip
SECONDS_PER_DAY = 86_400
BOT_FLOOR = attacks.BOT_USER_FIRST  # real users' ids stay below the bots' range
# share of sessions starting in each hour of the day (UTC), shoppers' evenings peaking
HOUR_WEIGHTS = np.array(
    [2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 9, 10, 10, 9, 6, 4], dtype=float
)


@dataclass
class StoreUsers:
    user_id: np.ndarray
    person: np.ndarray


def _users(
    rng: np.random.Generator, pop: Population, out: Path, truth: Truth
) -> tuple[StoreUsers, Path, int]:
    people_ = np.flatnonzero(pop.in_store)
    second = people_[rng.random(people_.size) < 0.03]  # a second account, another e-mail
    person = np.concatenate([people_, second])
    n = person.size
    signup = rng.integers(STORE_FIRST, CLICK_FIRST, size=n)
    order = np.argsort(signup, kind="stable")
    person, signup = person[order], signup[order]
    is_second = order >= people_.size
    user_id = np.sort(distinct_ints(rng, 500_000_000, BOT_FLOOR, n))  # ids grow with signup time
    name = variants.informal_name(
        rng, pop, person, nickname_rate=0.15, typo_rate=0.03, swap_rate=0.03, upper_rate=0.05, maiden_rate=0.1
    )
    email = variants.informal_email(rng, pop, person, missing_rate=0.01, stale_rate=0.08, upper_rate=0.03)
    email = pc.if_else(pa.array(is_second), pc.take(pop.old_email, pa.array(person)), email)
    style = rng.choice(6, size=n, p=[0.35, 0.05, 0.2, 0.15, 0.2, 0.05])
    phone = variants.phone_text(pop.phone_cc[person], pop.phone[person], style)
    phone = pc.if_else(pa.array(rng.random(n) < 0.4), pa.scalar(None, pa.string()), phone)
    stale_city = pop.moved[person] & (rng.random(n) < 0.3)
    city = variants.city_text(np.where(stale_city, pop.city[person], pop.new_city[person]))
    case = rng.random(n)
    city = pc.if_else(
        pa.array(case < 0.05),
        pc.utf8_lower(city),
        pc.if_else(pa.array(case > 0.97), pc.utf8_upper(city), city),
    )
    cols = {
        "user_id": text(user_id),
        "full_name": name,
        "email": email,
        "phone": phone,
        "city": city,
        "signup_date": iso_date(signup),
    }
    field_dirt = []
    rows = pick(rng, n, 0.0005)
    y = compact_date(signup[rows])
    cols["signup_date"] = _set(cols["signup_date"], rows, join(pc.utf8_slice_codeunits(y, 0, 4), "-02-30"))
    field_dirt.append((rows, dirt.IMPOSSIBLE_DATE))
    rows = pick(rng, n, 0.002)
    cols["email"] = _set(cols["email"], rows, pa.nulls(rows.size, pa.string()))
    field_dirt.append((rows, dirt.NULL))
    records = join(*[csv_field(cols[k]) for k in USERS_HEADER.split(",")], sep=",")
    plan = dirt.plan_with_duplicates(rng, n, 0.002, header_lines=1)
    lines = records.take(pa.array(plan.order))
    pos = dirt.originals(plan, rng, max(1, n // 50_000))
    lines = dirt.break_lines(lines, pos, dirt.MALFORMED_SHORT, rng)
    path = out / "store_users" / "store_users.csv"
    written = write_text_file(path, lines, header=USERS_HEADER)
    keys = cols["user_id"]
    truth.dirt.add(
        "store_users",
        path,
        plan.line_numbers(pos),
        keys.take(pa.array(plan.order[pos])),
        dirt.MALFORMED_SHORT,
    )
    truth.dirt.add(
        "store_users", path, plan.copy_lines(), keys.take(pa.array(plan.order[plan.copy])), dirt.DUPLICATE
    )
    for rows, kind in field_dirt:
        truth.dirt.add("store_users", path, plan.lines_of(rows), keys.take(pa.array(rows)), kind)
    truth.record("store_users", keys, person_ids(pop.person_id, person))
    return StoreUsers(user_id=user_id, person=person), path, written


def _shopping(rng: np.random.Generator, users: StoreUsers, store: StoreCatalog) -> tuple[Events, int]:
    """Ordinary sessions: a few views in one category, sometimes a cart, sometimes a purchase."""
    n_users = users.user_id.size
    activity = rng.gamma(0.5, 1.6, size=n_users)
    per_user = rng.poisson(activity)
    s_user, _ = expand(per_user)
    n_sessions = s_user.size
    day = rng.integers(CLICK_FIRST, TODAY, size=n_sessions)
    hour = rng.choice(24, size=n_sessions, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    start = day * SECONDS_PER_DAY + hour * 3600 + rng.integers(0, 3600, size=n_sessions)
    home_ip = public_ipv4(rng, n_users)
    s_ip = np.where(rng.random(n_sessions) < 0.25, public_ipv4(rng, n_sessions), home_ip[s_user])
    device = agents.draw_human(rng, n_users)
    s_agent = np.where(rng.random(n_sessions) < 0.2, agents.draw_human(rng, n_sessions), device[s_user])
    n_cat = store.category_start.size
    s_cat = rng.integers(0, n_cat, size=n_sessions)

    views = np.minimum(rng.geometric(0.27, size=n_sessions), 50)
    v_session, v_rank = expand(views)
    gaps = np.where(v_rank == 0, 0, 2 + rng.exponential(40, size=v_session.size)).astype(np.int64)
    cum = np.cumsum(gaps)
    session_first = np.cumsum(views) - views
    v_time = start[v_session] + cum - cum[session_first][v_session]
    cat = s_cat[v_session]
    v_product = store.category_start[cat] + (
        rng.random(v_session.size) ** 1.5 * store.category_size[cat]
    ).astype(np.int64)

    carted = rng.random(v_session.size) < 0.09
    c_idx = np.flatnonzero(carted)
    c_time = v_time[c_idx] + rng.integers(3, 30, size=c_idx.size)
    removed = rng.random(c_idx.size) < 0.3
    r_idx = c_idx[removed]
    r_time = c_time[removed] + rng.integers(10, 300, size=r_idx.size)
    bought = ~removed & (rng.random(c_idx.size) < 0.5)
    b_idx = c_idx[bought]
    last_view = v_time[session_first + views - 1]
    b_time = np.maximum(last_view[v_session[b_idx]], c_time[bought]) + rng.integers(30, 240, size=b_idx.size)

    source = np.concatenate([np.arange(v_session.size), c_idx, r_idx, b_idx])
    kind = np.concatenate(
        [
            np.full(v_session.size, VIEW),
            np.full(c_idx.size, CART),
            np.full(r_idx.size, REMOVE),
            np.full(b_idx.size, PURCHASE),
        ]
    ).astype(np.int8)
    time_s = np.concatenate([v_time, c_time, r_time, b_time])
    session = v_session[source]
    events = Events(
        time_s=time_s,
        kind=kind,
        product=v_product[source],
        user_id=users.user_id[s_user[session]],
        session=session.astype(np.int64),
        ip=s_ip[session],
        agent=s_agent[session],
    )
    return events, n_sessions


def _set(col: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    if rows.size == 0:
        return col
    mask = np.zeros(len(col), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(col, pa.array(mask), values.cast(pa.string()))


def generate(
    pop: Population, customers: int, seed: int, out: Path, truth: Truth
) -> tuple[dict[str, list[Path]], dict[str, int]]:
    """Write the store's users and its daily event files; returns files and line counts."""
    rng = rng_for(seed, "store")
    users, users_path, n_users = _users(rng, pop, out, truth)
    store = store_catalog(seed, int(min(60_000, 500 + customers // 20)))
    normal, n_sessions = _shopping(rng, users, store)
    window_start = CLICK_FIRST * SECONDS_PER_DAY
    window_end = TODAY * SECONDS_PER_DAY
    bad, bad_sessions, labels = attacks.inject(
        rng, customers, store, users.user_id, n_sessions, window_start, window_end
    )
    truth.attacks.extend(labels)
    events = Events.concat([normal, bad])
    sessions = pa.concat_arrays([uuid4_text(rng, n_sessions), bad_sessions])

    # arrival: most events land when they happen; some are delayed, a few past midnight (late)
    arrival = events.time_s.copy()
    delayed_ooo = pick(rng, normal.size, 0.003)
    arrival[delayed_ooo] += rng.integers(60, 1800, size=delayed_ooo.size)
    delayed_late = pick(
        rng, normal.size, 0.002, among=np.flatnonzero(normal.time_s < window_end - SECONDS_PER_DAY)
    )
    arrival[delayed_late] += rng.integers(2 * 3600, 26 * 3600, size=delayed_late.size)
    arrival = np.minimum(arrival, window_end - 1)
    order = np.lexsort((np.arange(events.size), events.time_s, arrival))
    events = events.take(order)
    arrival = arrival[order]
    delayed_any = np.zeros(events.size, dtype=bool)
    delayed_any[np.concatenate([delayed_ooo, delayed_late])] = True
    was_delayed = delayed_any[order]
    event_day = events.time_s // SECONDS_PER_DAY
    file_day = arrival // SECONDS_PER_DAY
    late = was_delayed & (file_day != event_day)
    out_of_order = was_delayed & ~late

    quoted_agents = pa.array(csv_quote_pool(agents.ALL))
    kinds = pa.array(EVENT_TYPES)
    paths: list[Path] = []
    written = 0
    bounds = np.searchsorted(file_day, np.arange(CLICK_FIRST, TODAY + 1))
    for d in range(CLICK_DAYS):
        lo, hi = int(bounds[d]), int(bounds[d + 1])
        part = events.take(np.arange(lo, hi))
        n = hi - lo
        price = pc.take(store.price, pa.array(part.product))
        session_text = pc.take(sessions, pa.array(part.session))
        rows = pick(rng, n, 0.00005)
        price = _set(price, rows, pa.repeat("N/A", rows.size))
        nulls = pick(rng, n, 0.0001)
        session_text = _set(session_text, nulls, pa.repeat("", nulls.size))
        records = join(
            datetime_text(part.time_s * US_PER_SECOND, sep=" ", fraction=False, suffix=" UTC"),
            pc.take(kinds, pa.array(part.kind)),
            text(store.product_id[part.product]),
            pc.take(store.category_id, pa.array(part.product)),
            pc.take(store.category_code, pa.array(part.product)),
            pc.take(store.brand, pa.array(part.product)),
            price,
            text(part.user_id),
            session_text,
            ipv4_text(part.ip),
            pc.take(quoted_agents, pa.array(part.agent)),
            sep=",",
        )
        plan = dirt.plan_with_duplicates(rng, n, 0.001, minimum=1 if d == 0 else 0, header_lines=1)
        lines = records.take(pa.array(plan.order))
        pos = dirt.originals(plan, rng, 1 if d == 0 else int(rng.random() < 0.5))
        lines = dirt.break_lines(lines, pos, dirt.MALFORMED_SHORT, rng)
        path = out / "clickstream" / f"events_{compact_date(np.array([CLICK_FIRST + d]))[0].as_py()}.csv"
        written += write_text_file(path, lines, header=EVENTS_HEADER)
        paths.append(path)
        add = truth.dirt.add
        add("clickstream", path, plan.line_numbers(pos), None, dirt.MALFORMED_SHORT)
        add("clickstream", path, plan.copy_lines(), None, dirt.DUPLICATE)
        add("clickstream", path, plan.lines_of(rows), None, dirt.WRONG_TYPE)
        add("clickstream", path, plan.lines_of(nulls), None, dirt.NULL)
        add("clickstream", path, plan.lines_of(np.flatnonzero(late[lo:hi])), None, dirt.LATE)
        add("clickstream", path, plan.lines_of(np.flatnonzero(out_of_order[lo:hi])), None, dirt.OUT_OF_ORDER)
    return (
        {"store_users": [users_path], "clickstream": paths},
        {"store_users": n_users, "clickstream": written},
    )
