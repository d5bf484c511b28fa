"""Attack episodes injected into the clickstream, and their labels for ``_truth/attacks.csv``.

Six kinds, each keyed the way a detector would have to aggregate to see it:

* ``bot_crawler`` (ip): a crawler agent viewing product after product at an exact interval;
* ``bot_cart_churn`` (user_id): a headless browser adding and removing the same items, metronomic;
* ``flood_user`` (user_id): one account (often a real, taken-over one) firing events from a few IPs;
* ``flood_session`` (user_session): one session with thousands of events in minutes;
* ``flood_ip`` (ip): one address behind many accounts and sessions;
* ``flood_distributed`` (product_id): hundreds of addresses hammering one product together.

Episode counts scale with the population; sizes too, with a floor that keeps every episode
clearly abnormal even in a tiny simulation.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from c360.simulate import agents
from c360.simulate.catalog import StoreCatalog
from c360.simulate.events import CART, REMOVE, VIEW, Events
from c360.simulate.fmt import US_PER_SECOND
from c360.simulate.rand import public_ipv4, uuid4_text
from c360.simulate.truth import Attack

KINDS = ["bot_crawler", "bot_cart_churn", "flood_user", "flood_session", "flood_ip", "flood_distributed"]
KEY_TYPES = {
    "bot_crawler": "ip",
    "bot_cart_churn": "user_id",
    "flood_user": "user_id",
    "flood_session": "user_session",
    "flood_ip": "ip",
    "flood_distributed": "product_id",
}
BOT_USER_FIRST = 600_000_000  # bots' accounts come from a range real users never get


def _episode_sizes(rng: np.random.Generator, customers: int, count: int) -> np.ndarray:
    scale = float(np.clip(customers / 20_000, 0.05, 1.0))
    return np.maximum(40, (rng.uniform(300, 3000, size=count) * scale).astype(np.int64))


def inject(
    rng: np.random.Generator,
    customers: int,
    store: StoreCatalog,
    real_users: np.ndarray,
    first_session: int,
    window_start_s: int,
    window_end_s: int,
) -> tuple[Events, pa.Array, list[Attack]]:
    """Attack events, the ids of the sessions they opened, and one label per episode."""
    per_kind = max(1, round(customers / 200_000 * 3))
    parts: list[Events] = []
    labels: list[Attack] = []
    n_sessions = 0
    session_uuid: list[pa.Array] = []
    next_bot = BOT_USER_FIRST + int(rng.integers(0, 1_000_000))
    n_products = store.product_id.size

    for kind in KINDS:
        for n in _episode_sizes(rng, customers, per_kind).tolist():
            ua = np.full(n, agents.draw_human(rng, 1)[0])
            kinds = np.full(n, VIEW)
            product = rng.integers(0, n_products, size=n)
            sessions = np.zeros(n, dtype=np.int64)
            ip = np.full(n, public_ipv4(rng, 1)[0])
            user = np.full(n, next_bot)
            next_bot += 1
            if kind == "bot_crawler":
                step = int(rng.choice([1, 2, 3, 5]))
                offsets = np.arange(n) * step
                ua[:] = agents.FIRST_CRAWLER + int(rng.integers(0, len(agents.CRAWLERS)))
                first = int(rng.integers(0, n_products))
                product = (first + np.arange(n)) % n_products  # walks the catalogue in order
                sessions = np.arange(n) // 500
            elif kind == "bot_cart_churn":
                step = int(rng.choice([2, 3]))
                offsets = np.arange(n) * step
                ua[:] = agents.FIRST_HEADLESS + int(rng.integers(0, len(agents.HEADLESS)))
                targets = rng.integers(0, n_products, size=int(rng.integers(1, 4)))
                product = targets[(np.arange(n) // 2) % targets.size]
                kinds = np.where(np.arange(n) % 2 == 0, CART, REMOVE)
            elif kind in ("flood_user", "flood_session"):
                rate = 4.0 if kind == "flood_user" else 8.0
                offsets = np.cumsum(rng.exponential(1 / rate, size=n)).astype(np.int64)
                if rng.random() < 0.5 and real_users.size:
                    user[:] = real_users[rng.integers(0, real_users.size)]  # a taken-over account
                if kind == "flood_user":
                    sessions = np.arange(n) // 20
                    ips = public_ipv4(rng, int(rng.integers(2, 6)))
                    ip = ips[rng.integers(0, ips.size, size=n)]
                kinds = np.where(rng.random(n) < 0.15, CART, VIEW)
            elif kind == "flood_ip":
                offsets = np.cumsum(rng.exponential(1 / 5.0, size=n)).astype(np.int64)
                accounts = max(3, n // 10)
                account = rng.integers(0, accounts, size=n)
                user = next_bot + account
                next_bot += accounts
                sessions = account
                ua = agents.draw_human(rng, accounts)[account]
            else:  # flood_distributed
                duration = int(rng.integers(120, 600))
                offsets = np.sort(rng.integers(0, duration, size=n))
                sources = min(n, max(30, n // 5))
                source = rng.permutation(np.arange(n) % sources)  # every address takes part
                ip = public_ipv4(rng, sources)[source]
                user = next_bot + source
                next_bot += sources
                sessions = source
                ua = agents.draw_human(rng, sources)[source]
                product = np.full(n, rng.integers(0, n_products))
            span = int(offsets[-1]) + 1
            start = int(rng.integers(window_start_s + 60, max(window_start_s + 61, window_end_s - span - 60)))
            times = start + offsets
            _, sessions = np.unique(sessions, return_inverse=True)
            count = int(sessions.max()) + 1
            session_uuid.append(uuid4_text(rng, count))
            parts.append(
                Events(
                    time_s=times.astype(np.int64),
                    kind=kinds.astype(np.int8),
                    product=product.astype(np.int64),
                    user_id=user.astype(np.int64),
                    session=first_session + n_sessions + sessions.astype(np.int64),
                    ip=ip.astype(np.int64),
                    agent=ua.astype(np.int64),
                )
            )
            key_type = KEY_TYPES[kind]
            if key_type == "ip":
                key = _ip(int(ip[0]))
            elif key_type == "user_id":
                key = str(int(user[0]))
            elif key_type == "user_session":
                key = session_uuid[-1][0].as_py()
            else:
                key = str(int(store.product_id[product[0]]))
            labels.append(
                Attack(
                    kind, key_type, key, int(times.min()) * US_PER_SECOND, int(times.max()) * US_PER_SECOND
                )
            )
            n_sessions += count
    uuids = pa.concat_arrays(session_uuid) if session_uuid else pa.array([], pa.string())
    return Events.concat(parts), uuids, labels


def _ip(value: int) -> str:
    return ".".join(str(value >> s & 255) for s in (24, 16, 8, 0))
