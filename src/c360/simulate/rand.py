"""Random streams and vectorized sampling helpers.

Each source draws from its own stream, derived from (seed, source name), so that changing how
one simulator draws never shifts another's output, and the same seed always gives the same
bytes whatever order the sources are generated in.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.simulate.fmt import join, text


def rng_for(seed: int, stream: str) -> np.random.Generator:
    """The generator of one named stream for a seed."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(stream.encode())]))


def pick(
    rng: np.random.Generator, n: int, rate: float, minimum: int = 1, among: np.ndarray | None = None
) -> np.ndarray:
    """Sorted distinct row indices: about ``rate`` of ``n`` rows, never fewer than ``minimum``.

    The floor makes every kind of dirt present even in a tiny simulation, which the tests and
    the scorers rely on. ``among`` restricts the choice to those candidate rows.
    """
    pool = np.arange(n) if among is None else np.asarray(among)
    if pool.size == 0:
        return np.zeros(0, dtype=np.int64)
    k = min(pool.size, max(minimum, round(rate * pool.size)))
    return np.sort(rng.choice(pool, size=k, replace=False)).astype(np.int64)


def weighted_sample(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    """``k`` distinct indices drawn with probability proportional to ``weights`` (Efraimidis-Spirakis).

    One pass and a partition, unlike ``Generator.choice(replace=False, p=...)`` which is slow
    for millions of candidates.
    """
    u = rng.random(weights.size)
    with np.errstate(divide="ignore"):
        keys = np.where(weights > 0, np.log(u) / weights, -np.inf)
    if k >= weights.size:
        return np.arange(weights.size)
    top = np.argpartition(-keys, k)[:k]
    return np.sort(top)


def distinct_ints(rng: np.random.Generator, low: int, high: int, size: int) -> np.ndarray:
    """``size`` distinct random integers in [low, high), in random order."""
    if size > (high - low) // 2:
        raise ValueError(f"cannot draw {size} distinct integers from a range of {high - low} comfortably")
    out = np.zeros(0, dtype=np.int64)
    while out.size < size:
        draw = rng.integers(low, high, size=int((size - out.size) * 1.05) + 16, dtype=np.int64)
        merged = np.concatenate([out, draw])
        _, first = np.unique(merged, return_index=True)
        out = merged[np.sort(first)]
    return out[:size]


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For per-owner ``counts``: the owner of each child and the child's rank (0-based) within it."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(counts.size), counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(owner.size) - np.repeat(starts, counts)
    return owner, rank


@lru_cache(maxsize=1)
def _hex4() -> pa.Array:
    return pa.array([f"{i:04x}" for i in range(65_536)])


def uuid4_text(rng: np.random.Generator, n: int) -> pa.Array:
    """Random version-4 UUIDs as text (``8-4-4-4-12``), the form of REES46 ``user_session``."""
    w = rng.integers(0, 65_536, size=(8, n), dtype=np.int64)
    w[3] = (w[3] & 0x0FFF) | 0x4000
    w[4] = (w[4] & 0x3FFF) | 0x8000
    h = [pc.take(_hex4(), pa.array(w[i])) for i in range(8)]
    return join(h[0], h[1], "-", h[2], "-", h[3], "-", h[4], "-", h[5], h[6], h[7])


def ipv4_text(addresses: np.ndarray) -> pa.Array:
    """32-bit integers → dotted quads."""
    a = np.asarray(addresses, dtype=np.int64)
    return join(text(a >> 24 & 255), text(a >> 16 & 255), text(a >> 8 & 255), text(a & 255), sep=".")


def public_ipv4(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random addresses in ordinary public unicast space (first octet 11-223, not 127)."""
    first = rng.integers(11, 224, size=n)
    first = np.where(first == 127, 128, first)
    return (first << 24) | rng.integers(0, 1 << 24, size=n)


def luhn_complete(body: np.ndarray, digits: int) -> np.ndarray:
    """Append the Luhn check digit to ``digits``-digit bodies, as card numbers carry."""
    body = np.asarray(body, dtype=np.int64)
    total = np.zeros(body.size, dtype=np.int64)
    rest = body.copy()
    for pos in range(digits):  # pos 0 = rightmost digit of the body, which gets doubled
        d = rest % 10
        rest //= 10
        if pos % 2 == 0:
            d = d * 2
            d = np.where(d > 9, d - 9, d)
        total += d
    check = (10 - total % 10) % 10
    return body * 10 + check
