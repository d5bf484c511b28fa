"""Web analytics: GA360 daily session exports and the visitor-to-client login map.

A visitor (``fullVisitorId``) is a browser on a device, not a person: people have several, and
a household computer is shared. The GA export carries no client id, so the only link to the bank
is ``web_visitors/ga_visitors.csv``, written when a visitor logs in: many-to-many, like the
reference map. Sessions follow the reference export's nested shape (see
:mod:`c360.simulate.ga_template`): most are single-page bounces, a few end in a purchase.
Files are per day in the view's time zone: ``web_sessions/ga_sessions_<YYYYMMDD>.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.simulate import dirt, ga_template, places
from c360.simulate.clock import TODAY, WEB_DAYS, WEB_FIRST, WEB_TZ_US
from c360.simulate.crm import Clients
from c360.simulate.fmt import US_PER_SECOND, compact_date, join, json_str, text, write_text_file
from c360.simulate.ga_template import CATEGORY, DONE, HOME, INFO, PRODUCT
from c360.simulate.people import Population, household_partner
from c360.simulate.rand import distinct_ints, expand, pick, rng_for
from c360.simulate.truth import Truth, person_ids

SECONDS_PER_DAY = 86_400
TZ_S = WEB_TZ_US // US_PER_SECOND
HOUR_WEIGHTS = np.array([2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 8, 8, 8, 7, 7, 7, 6, 5, 4, 3], dtype=float)
CHECKOUT = [
    ga_template.BASKET,
    ga_template.CHECKOUT_INFO,
    ga_template.CHECKOUT_PAY,
    ga_template.CHECKOUT_REVIEW,
    DONE,
]


def _visitor_ids(rng: np.random.Generator, n: int) -> pa.Array:
    """GA client ids: 17-19 digit numbers, some written with a leading zero like the reference map."""
    base = distinct_ints(rng, 10**16, 9_200_000_000_000_000_000, n)
    plain = text(base)
    leading = (base >= 10**17) & (base < 10**18) & (rng.random(n) < 0.5)
    return pc.if_else(pa.array(leading), join("0", plain), plain)


def _client_ids(pop: Population, clients: Clients) -> tuple[np.ndarray, np.ndarray]:
    """Each person's first client id and second-registration id (-1 where none)."""
    first = np.full(pop.size, -1, dtype=np.int64)
    second = np.full(pop.size, -1, dtype=np.int64)
    first[clients.person[::-1]] = clients.client_id[::-1]
    dup = clients.second_registration
    second[clients.person[dup]] = clients.client_id[dup]
    return first, second


def _logins(
    rng: np.random.Generator,
    pop: Population,
    clients: Clients,
    owner: np.ndarray,
    fvid: pa.Array,
    out: Path,
    truth: Truth,
) -> tuple[Path, int, np.ndarray]:
    """Write the visitor → client map; returns the file, its line count and who appears in it."""
    first, second = _client_ids(pop, clients)
    partner = household_partner(pop, first >= 0)
    n = owner.size
    logged = (first[owner] >= 0) & (rng.random(n) < 0.85)
    v_rows = [np.flatnonzero(logged)]
    c_rows = [first[owner[v_rows[0]]]]
    both = logged & (second[owner] >= 0) & (rng.random(n) < 0.5)
    v_rows.append(np.flatnonzero(both))
    c_rows.append(second[owner[v_rows[-1]]])
    p = partner[owner]
    shared = logged & (p >= 0) & (rng.random(n) < 0.15)
    v_rows.append(np.flatnonzero(shared))
    c_rows.append(first[p[v_rows[-1]]])
    visitor = np.concatenate(v_rows)
    client = np.concatenate(c_rows)
    shuffle = rng.permutation(visitor.size)
    visitor, client = visitor[shuffle], client[shuffle]
    records = join(fvid.take(pa.array(visitor)), ",", text(client))
    plan = dirt.plan_with_duplicates(rng, visitor.size, 0.005)
    lines = records.take(pa.array(plan.order))
    path = out / "web_visitors" / "ga_visitors.csv"
    keys = fvid.take(pa.array(visitor))
    broken = np.zeros(0, dtype=np.int64)
    for kind in (dirt.MALFORMED_SHORT, dirt.MALFORMED_LONG):
        pos = dirt.originals(plan, rng, 1, exclude=broken)
        lines = dirt.break_lines(lines, pos, kind, rng)
        truth.dirt.add(
            "web_visitors", path, plan.line_numbers(pos), keys.take(pa.array(plan.order[pos])), kind
        )
        broken = np.concatenate([broken, pos])
    written = write_text_file(path, lines)
    truth.dirt.add(
        "web_visitors", path, plan.copy_lines(), keys.take(pa.array(plan.order[plan.copy])), dirt.DUPLICATE
    )
    appears = np.zeros(n, dtype=bool)
    appears[visitor] = True
    return path, written, appears


def _pick_pages(rng: np.random.Generator, kinds: np.ndarray) -> np.ndarray:
    """A page of each requested kind, uniformly among the site's pages of that kind."""
    site = ga_template.pages()
    kind_of = np.array([p.kind for p in site])
    out = np.zeros(kinds.size, dtype=np.int64)
    for k in np.unique(kinds):
        options = np.flatnonzero(kind_of == k)
        sel = np.flatnonzero(kinds == k)
        out[sel] = options[rng.integers(0, options.size, size=sel.size)]
    return out


def generate(
    pop: Population, clients: Clients, seed: int, out: Path, truth: Truth
) -> tuple[dict[str, list[Path]], dict[str, int]]:
    """Write the visitor map and the daily session files; returns files and line counts."""
    rng = rng_for(seed, "web")
    people_ = np.flatnonzero(pop.in_web)
    devices = 1 + (rng.random(people_.size) < 0.3) + (rng.random(people_.size) < 0.08)
    v_owner_i, _ = expand(devices)
    owner = people_[v_owner_i]
    n_vis = owner.size
    fvid = _visitor_ids(rng, n_vis)
    map_path, map_lines, in_map = _logins(rng, pop, clients, owner, fvid, out, truth)

    dev_w = np.array([d[4] for d in ga_template.DEVICES])
    device = rng.choice(dev_w.size, size=n_vis, p=dev_w / dev_w.sum())
    prior = rng.geometric(0.35, size=n_vis) - 1

    # sessions: a few per active visitor over the export window
    per_visitor = rng.poisson(rng.gamma(0.45, 1.0, size=n_vis))
    s_vis, _ = expand(per_visitor)
    n_s = s_vis.size
    local_day = rng.integers(WEB_FIRST, TODAY, size=n_s)
    hour = rng.choice(24, size=n_s, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    local_start = local_day * SECONDS_PER_DAY + hour * 3600 + rng.integers(0, 3600, size=n_s)
    start = local_start - TZ_S
    by_visit = np.lexsort((local_start, s_vis))
    rank = np.empty(n_s, dtype=np.int64)
    rank[by_visit] = np.arange(n_s) - np.searchsorted(s_vis[by_visit], s_vis[by_visit])
    visit_number = prior[s_vis] + rank + 1

    # late sessions land in the next day's file; sessions are written by file, then start time
    file_day = local_day.copy()
    late = pick(
        rng, n_s, 0.002, minimum=1 if WEB_DAYS > 1 else 0, among=np.flatnonzero(local_day < TODAY - 1)
    )
    file_day[late] += 1
    order = np.lexsort((s_vis, local_start, file_day))
    is_late = np.zeros(n_s, dtype=bool)
    is_late[late] = True
    s_vis, local_day, local_start, start, visit_number, file_day, is_late = (
        a[order] for a in (s_vis, local_day, local_start, start, visit_number, file_day, is_late)
    )

    bounce = rng.random(n_s) < 0.55
    buyer = ~bounce & (rng.random(n_s) < 0.05)
    browse = np.where(bounce, 1, 1 + rng.geometric(0.35, size=n_s))
    n_hits = browse + np.where(buyer, len(CHECKOUT), 0)
    h_s, h_rank = expand(n_hits)
    n_h = h_s.size
    landing_kind = rng.choice([HOME, CATEGORY, PRODUCT, INFO], size=n_h, p=[0.45, 0.3, 0.2, 0.05])
    next_kind = rng.choice(
        [HOME, CATEGORY, PRODUCT, ga_template.BASKET, ga_template.SIGNIN, ga_template.ACCOUNT, INFO],
        size=n_h,
        p=[0.05, 0.35, 0.4, 0.07, 0.05, 0.03, 0.05],
    )
    kind = np.where(h_rank == 0, landing_kind, next_kind)
    checkout_step = h_rank - browse[h_s]
    in_checkout = checkout_step >= 0
    kind = np.where(in_checkout, np.array(CHECKOUT)[np.clip(checkout_step, 0, len(CHECKOUT) - 1)], kind)
    page = _pick_pages(rng, kind)
    event = (kind == PRODUCT) & (h_rank > 0) & (rng.random(n_h) < 0.12)
    gaps = np.where(h_rank == 0, 0, rng.exponential(45.0, size=n_h) * 1000).astype(np.int64)
    cum = np.cumsum(gaps)
    h_first = np.cumsum(n_hits) - n_hits
    h_time = cum - cum[h_first][h_s]
    last_time = h_time[h_first + n_hits - 1]

    site = ga_template.pages()
    group_of = np.array([p.group for p in site])
    prev_page = np.where(h_rank > 0, np.roll(page, 1), -1)
    n_groups = len(ga_template.GROUPS)
    cg_index = group_of[page] * (n_groups + 1) + np.where(
        prev_page >= 0, group_of[np.maximum(prev_page, 0)] + 1, 0
    )
    is_shop = np.array([p.host == ga_template.SHOP for p in site])[page]
    revenue = np.where(buyer, np.round(rng.lognormal(3.6, 0.7, size=n_s), 2), 0.0)
    revenue_micros = (revenue * 1_000_000).astype(np.int64)
    pool = {
        "page": pa.array(
            [
                ga_template.dumps(
                    {
                        "pagePath": p.path,
                        "hostname": p.host,
                        "pageTitle": p.title,
                        "searchKeyword": None,
                        "searchCategory": None,
                        **_levels(p.path),
                    }
                )
                for p in site
            ]
        ),
        "screen": pa.array([ga_template.dumps(p.host + p.path) for p in site]),
        "product": pa.array([p.products for p in site]),
        "action": pa.array([p.action for p in site]),
        "content": pa.array(ga_template.content_groups()),
    }
    add_to_cart = ga_template.dumps({"action_type": "3", "step": 1, "option": None})
    traffic_w = np.array([t[3] for t in ga_template.TRAFFIC])
    traffic = rng.choice(traffic_w.size, size=n_s, p=traffic_w / traffic_w.sum())
    referer_pool = pa.array([ga_template.dumps(t[2]) for t in ga_template.TRAFFIC])
    geo = places.geography()
    city = pop.new_city[owner[s_vis]]
    country = geo.city_country[city]
    na_geo = rng.random(n_s) < 0.45
    na = ga_template.dumps(ga_template.NA)
    geo_json = ga_template.GEO.render(
        {
            "continent": json_str(pc.take(geo.continent, pa.array(country))),
            "subContinent": json_str(pc.take(geo.subcontinent, pa.array(country))),
            "country": json_str(pc.take(geo.country_name, pa.array(country))),
            "region": pc.if_else(pa.array(na_geo), na, '"(not set)"'),
            "metro": pc.if_else(pa.array(na_geo), na, '"(not set)"'),
            "city": pc.if_else(pa.array(na_geo), na, json_str(pc.take(geo.city, pa.array(city)))),
            "networkDomain": json_str(
                pc.take(
                    pa.array(ga_template.NETWORK_DOMAINS),
                    pa.array(rng.integers(0, len(ga_template.NETWORK_DOMAINS), size=n_s)),
                )
            ),
        }
    )
    cd_pool = pa.array(
        [
            ga_template.custom_dimension(geo.continent[c].as_py(), geo.subcontinent[c].as_py())
            for c in range(len(geo.country_name))
        ]
    )
    custom = pc.if_else(pa.array(rng.random(n_s) < 0.8), pc.take(cd_pool, pa.array(country)), "[]")
    device_pool = pa.array([ga_template.device_json(*d[:4]) for d in ga_template.DEVICES])
    quality = np.where(
        bounce, 1, np.where(buyer, rng.integers(60, 101, size=n_s), rng.integers(1, 60, size=n_s))
    )
    pageviews = np.bincount(h_s, weights=(~event).astype(np.float64), minlength=n_s).astype(np.int64)
    session_cols = {
        "visitNumber": text(visit_number),
        "visitId": text(start),
        "visitStartTime": text(start),
        "date": json_str(compact_date(local_day)),
        "trafficSource": pc.take(pa.array([t[0] for t in ga_template.TRAFFIC]), pa.array(traffic)),
        "device": pc.take(device_pool, pa.array(device[s_vis])),
        "geoNetwork": geo_json,
        "customDimensions": custom,
        "fullVisitorId": json_str(fvid.take(pa.array(s_vis))),
        "channelGrouping": json_str(
            pc.take(pa.array([t[1] for t in ga_template.TRAFFIC]), pa.array(traffic))
        ),
        "totals": ga_template.TOTALS.render(
            {
                "hits": text(n_hits),
                "pageviews": text(pageviews),
                "timeOnSite": pc.if_else(pa.array(bounce), "null", text(last_time // 1000)),
                "bounces": pc.if_else(pa.array(bounce), "1", "null"),
                "transactions": pc.if_else(pa.array(buyer), "1", "null"),
                "transactionRevenue": pc.if_else(pa.array(buyer), text(revenue_micros), "null"),
                "newVisits": pc.if_else(pa.array(visit_number == 1), "1", "null"),
                "sessionQualityDim": text(quality),
            }
        ),
    }
    keys = join(fvid.take(pa.array(s_vis)), ".", text(start))

    paths: list[Path] = []
    written = 0
    s_bounds = np.searchsorted(file_day, np.arange(WEB_FIRST, TODAY + 1))
    h_bounds = np.concatenate([h_first, [n_h]])[s_bounds]
    for d in range(WEB_DAYS):
        s_lo, s_hi = int(s_bounds[d]), int(s_bounds[d + 1])
        h_lo, h_hi = int(h_bounds[d]), int(h_bounds[d + 1])
        hs = slice(h_lo, h_hi)
        sess = h_s[hs]
        first_page = page[h_first[sess]]
        last_page = page[h_first[sess] + n_hits[sess] - 1]
        local_hit = local_start[sess] + h_time[hs] // 1000
        pg = pa.array(page[hs])
        done = kind[hs] == DONE
        transaction = pc.if_else(pa.array(is_shop[hs]), ga_template.EMPTY_TRANSACTION, "null")
        if done.any():
            txn = ga_template.TRANSACTION.render(
                {
                    "transactionId": json_str(join("ORD", text(start[sess]))),
                    "revenue": text(revenue_micros[sess]),
                    "tax": text(revenue_micros[sess] // 10),
                    "shipping": text(np.full(sess.size, 5_990_000)),
                }
            )
            transaction = pc.if_else(pa.array(done), txn, transaction)
        ev = pa.array(event[hs])
        hits = ga_template.HIT.render(
            {
                "hitNumber": text(h_rank[hs] + 1),
                "time": text(h_time[hs]),
                "hour": text(local_hit // 3600 % 24),
                "minute": text(local_hit // 60 % 60),
                "isEntrance": pc.if_else(pa.array(h_rank[hs] == 0), "true", "null"),
                "isExit": pc.if_else(pa.array(h_rank[hs] == n_hits[sess] - 1), "true", "null"),
                "referer": pc.if_else(
                    pa.array(h_rank[hs] == 0), pc.take(referer_pool, pa.array(traffic[sess])), "null"
                ),
                "page": pc.take(pool["page"], pg),
                "transaction": transaction,
                "item": pc.if_else(pa.array(is_shop[hs]), ga_template.EMPTY_ITEM, "null"),
                "screenName": pc.take(pool["screen"], pg),
                "landingScreenName": pc.take(pool["screen"], pa.array(first_page)),
                "exitScreenName": pc.take(pool["screen"], pa.array(last_page)),
                "eventInfo": pc.if_else(ev, ga_template.ADD_TO_CART, "null"),
                "product": pc.take(pool["product"], pg),
                "eCommerceAction": pc.if_else(ev, add_to_cart, pc.take(pool["action"], pg)),
                "type": pc.if_else(ev, '"EVENT"', '"PAGE"'),
                "contentGroup": pc.take(pool["content"], pa.array(cg_index[hs])),
            }
        )
        offsets = np.concatenate([h_first[s_lo:s_hi], [h_hi]]) - h_lo
        hit_lists = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), hits)
        day_cols = {k: v.slice(s_lo, s_hi - s_lo) for k, v in session_cols.items()}
        day_cols["hits"] = join("[", pc.binary_join(hit_lists, ","), "]")
        records = ga_template.SESSION.render(day_cols)
        n = s_hi - s_lo
        plan = dirt.plan_with_duplicates(rng, n, 0.001, minimum=1 if d == 0 else 0)
        lines = records.take(pa.array(plan.order))
        pos = dirt.originals(plan, rng, 1 if d == 0 else 0)
        lines = dirt.break_lines(lines, pos, dirt.MALFORMED_TRUNCATED, rng)
        path = out / "web_sessions" / f"ga_sessions_{compact_date(np.array([WEB_FIRST + d]))[0].as_py()}.json"
        written += write_text_file(path, lines)
        paths.append(path)
        day_keys = keys.slice(s_lo, n)
        add = truth.dirt.add
        add(
            "web_sessions",
            path,
            plan.line_numbers(pos),
            day_keys.take(pa.array(plan.order[pos])),
            dirt.MALFORMED_TRUNCATED,
        )
        add(
            "web_sessions",
            path,
            plan.copy_lines(),
            day_keys.take(pa.array(plan.order[plan.copy])),
            dirt.DUPLICATE,
        )
        late_rows = np.flatnonzero(is_late[s_lo:s_hi])
        add("web_sessions", path, plan.lines_of(late_rows), day_keys.take(pa.array(late_rows)), dirt.LATE)

    seen = in_map.copy()
    seen[s_vis] = True
    visitors = np.flatnonzero(seen)
    truth.record("web_visitors", fvid.take(pa.array(visitors)), person_ids(pop.person_id, owner[visitors]))
    return (
        {"web_sessions": paths, "web_visitors": [map_path]},
        {"web_sessions": written, "web_visitors": map_lines},
    )


def _levels(path: str) -> dict[str, str]:
    """GA's pagePathLevel1-4: the path cut at its first three slashes."""
    parts = path.split("/")[1:]
    levels = ["/" + p + ("/" if i < len(parts) - 1 else "") for i, p in enumerate(parts)]
    levels = [*levels, "", "", "", ""][:4]
    if len(parts) > 4:
        levels[3] = "/" + "/".join(parts[3:])
    return {f"pagePathLevel{i + 1}": levels[i] for i in range(4)}
