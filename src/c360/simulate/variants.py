"""How each system types a person: the same details, written differently.

The CRM writes a person carefully and the same way every time; a sales rep or a web form does
not: nicknames, typos, swapped name order, capitals, another phone format, an old e-mail address
or none. Every function takes person indices (rows of :class:`Population`) and returns Arrow
text, built from per-pool variants so that no row is handled in Python.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.simulate import names, places
from c360.simulate.fmt import assemble, join, text, zpad
from c360.simulate.people import Population

# phone formats
E164, CRM_PHONE, PARENS, DOTS, DASHES, INTL_00 = range(6)


def phone_text(cc: np.ndarray, number: np.ndarray, style: np.ndarray | int) -> pa.Array:
    """A 10-digit national number with its country code, in one of six common notations."""
    number = np.asarray(number, dtype=np.int64)
    style = np.broadcast_to(np.asarray(style), number.shape)

    def notation(k: int) -> Callable[[np.ndarray], pa.Array]:
        def build(rows: np.ndarray) -> pa.Array:
            n = number[rows]
            c, a = text(cc[rows]), zpad(n // 10_000_000, 3)
            e, s = zpad(n // 10_000 % 1000, 3), zpad(n % 10_000, 4)
            if k == E164:
                return join("+", c, a, e, s)
            if k == CRM_PHONE:
                return join("+", c, " ", a, "-", e, "-", s)
            if k == PARENS:
                return join("(", a, ") ", e, "-", s)
            if k == DOTS:
                return join(a, ".", e, ".", s)
            if k == DASHES:
                return join(a, "-", e, "-", s)
            return join("00", c, " ", a, e, s)

        return build

    return assemble(style, [notation(k) for k in range(6)])


def first_name_text(first: np.ndarray, typo: np.ndarray) -> pa.Array:
    """Given names; ``typo`` 0 means as is, k > 0 the k-th misspelling."""
    pool = names.first_names()
    return _pool_text(pool, first, typo)


def last_name_text(last: np.ndarray, typo: np.ndarray) -> pa.Array:
    pool = names.last_names()
    return _pool_text(pool, last, typo)


def _pool_text(pool: names.NamePool, idx: np.ndarray, typo: np.ndarray) -> pa.Array:
    variants = (pool.names, *pool.typos)
    return assemble(typo, [lambda r, v=v: pc.take(v, pa.array(idx[r])) for v in variants])


def _typo_draw(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    hit = rng.random(n) < rate
    return np.where(hit, rng.integers(1, names.TYPO_VARIANTS + 1, size=n), 0)


def informal_name(
    rng: np.random.Generator,
    pop: Population,
    rows: np.ndarray,
    nickname_rate: float = 0.12,
    typo_rate: float = 0.04,
    swap_rate: float = 0.06,
    upper_rate: float = 0.03,
    maiden_rate: float = 0.0,
) -> pa.Array:
    """A full name as someone else types it: nicknames, typos, "Last, First", CAPITALS.

    ``maiden_rate`` is the share of married women still listed under their maiden name.
    """
    n = rows.size
    first = pop.first[rows].copy()
    nick = names.first_names().nickname[first]
    use_nick = (nick >= 0) & (rng.random(n) < nickname_rate)
    first[use_nick] = nick[use_nick]
    last = pop.last[rows].copy()
    maiden = pop.maiden[rows]
    use_maiden = (maiden >= 0) & (rng.random(n) < maiden_rate)
    last[use_maiden] = maiden[use_maiden]
    f = first_name_text(first, _typo_draw(rng, n, typo_rate))
    la = last_name_text(last, _typo_draw(rng, n, typo_rate))
    u = rng.random(n)
    style = np.where(
        u < swap_rate * 0.6, 1, np.where(u < swap_rate, 2, np.where(u < swap_rate + upper_rate, 3, 0))
    )
    full = pc.choose(
        pa.array(style.astype(np.int8)),
        join(f, " ", la),
        join(la, ", ", f),
        join(la, " ", f),
        pc.utf8_upper(join(f, " ", la)),
    )
    return full


def informal_email(
    rng: np.random.Generator,
    pop: Population,
    rows: np.ndarray,
    missing_rate: float,
    stale_rate: float,
    upper_rate: float = 0.02,
) -> pa.Array:
    """The e-mail a system holds: sometimes none, sometimes an old one, sometimes in capitals."""
    n = rows.size
    email = pc.take(pop.email, pa.array(rows))
    old = pc.take(pop.old_email, pa.array(rows))
    u = rng.random(n)
    email = pc.if_else(pa.array(u < stale_rate), old, email)
    email = pc.if_else(pa.array(u > 1 - missing_rate), pa.scalar(None, pa.string()), email)
    upper = rng.random(n) < upper_rate
    return pc.if_else(pa.array(upper), pc.utf8_upper(email), email)


def street_address(
    no: np.ndarray, street: np.ndarray, street_type: np.ndarray, short: np.ndarray | bool
) -> pa.Array:
    """``123 Oak Street`` or, with ``short``, ``123 Oak St``."""
    kinds = places.STREET_TYPES
    long_pool = pa.array([k[0] for k in kinds])
    short_pool = pa.array([k[1] for k in kinds])
    short = np.broadcast_to(np.asarray(short), no.shape)
    suffix = pc.if_else(
        pa.array(short), pc.take(short_pool, pa.array(street_type)), pc.take(long_pool, pa.array(street_type))
    )
    return join(text(no), " ", pc.take(pa.array(places.STREETS), pa.array(street)), " ", suffix)


def city_text(city: np.ndarray) -> pa.Array:
    return pc.take(places.geography().city, pa.array(city))


def country_text(city: np.ndarray) -> pa.Array:
    return pc.take(places.geography().country, pa.array(city))
