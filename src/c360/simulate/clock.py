"""The simulated calendar: one fixed "now" and the windows each source covers.

Output must be byte-identical for a seed, so nothing reads the wall clock: every date derives
from ``NOW``, the moment the reference extracts were taken (2024-05-23 06:40:13 UTC).
"""

from __future__ import annotations

import numpy as np

from c360.simulate.fmt import US_PER_DAY, US_PER_SECOND

NOW_US = int(np.datetime64("2024-05-23T06:40:13.494626", "us").astype(np.int64))
TODAY = NOW_US // US_PER_DAY  # 2024-05-23 as days since the epoch


def day(iso: str) -> int:
    """``YYYY-MM-DD`` → days since the epoch."""
    return int(np.datetime64(iso, "D").astype(np.int64))


def at(iso: str) -> int:
    """``YYYY-MM-DDTHH:MM:SS`` → microseconds since the epoch."""
    return int(np.datetime64(iso, "us").astype(np.int64))


BANK_START_US = at("2022-06-01T00:00:00")  # the bank's systems start here (as in the reference extracts)
EXTRACT_DAYS = 4  # account/card/disposition extracts: one full file, then daily increments
FIRST_EXTRACT = TODAY - (EXTRACT_DAYS - 1)

WEB_DAYS = 14  # GA360 daily export files, ending yesterday
WEB_FIRST = TODAY - WEB_DAYS
WEB_TZ_US = -7 * 3600 * US_PER_SECOND  # the GA view's time zone (PDT), for ``date``, ``hour``, ``minute``

CLICK_DAYS = 7  # clickstream daily event files, ending yesterday
CLICK_FIRST = TODAY - CLICK_DAYS

RETAIL_FIRST = day("2020-01-01")
RETAIL_SPLIT = day("2024-01-01")  # the second (drifted) batch starts here
RETAIL_LAST = TODAY - 1

STORE_FIRST = day("2018-01-01")


def extract_time(file_day: int) -> int:
    """The moment a daily mainframe extract for ``file_day`` is cut (same time of day as ``NOW``)."""
    return file_day * US_PER_DAY + (NOW_US % US_PER_DAY)


def age_on(birth_day: np.ndarray, on_day: int) -> np.ndarray:
    """Completed years between birth and ``on_day`` (days since the epoch)."""
    b = np.asarray(birth_day).astype("datetime64[D]")
    on = np.datetime64(int(on_day), "D")
    by, bm, bd = _ymd(b)
    oy, om, od = _ymd(np.array([on]))
    before = (bm > om[0]) | ((bm == om[0]) & (bd > od[0]))
    return (oy[0] - by - before).astype(np.int32)


def _ymd(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dd = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return y, m, dd


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days since the epoch → (year, month, day) arrays."""
    return _ymd(np.asarray(days).astype("datetime64[D]"))
