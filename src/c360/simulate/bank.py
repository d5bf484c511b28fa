"""The bank's mainframe extracts: accounts, dispositions (who may use an account) and cards.

Each is cut once a day: a full extract on the first day, then one file per day with what was
created since, as ``<kind>/<name>_<YYYYMMDD>.<ext>``. Late-arriving records (created days
before, delivered in a later day's file) are what a daily extract really looks like. Accounts
and dispositions are headerless CSV like the reference extracts; cards are fixed-width (see
:mod:`c360.simulate.layouts`), as card systems' mainframe files usually are.

Ratios: about two accounts per client, a second person ("user") on a fifth of accounts,
usually a household member, and one to several cards per disposition (renewals, replacements).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.simulate import dirt
from c360.simulate.clock import EXTRACT_DAYS, FIRST_EXTRACT, NOW_US, extract_time
from c360.simulate.crm import Clients
from c360.simulate.fmt import US_PER_DAY, compact_date, datetime_text, join, text, write_text_file
from c360.simulate.layouts import CARD_ALIGN, CARD_LAYOUT, layout_text, record_width
from c360.simulate.people import Population
from c360.simulate.rand import distinct_ints, expand, luhn_complete, pick, rng_for
from c360.simulate.truth import Truth, person_ids

FREQUENCIES = ["MI", "WI", "TI"]
CARD_TYPES = ["junior", "classic", "gold"]
BRANCHES = 500
LATE_RATE = 0.002


@dataclass
class Extract:
    """Records of one extract kind, one row per record, ordered by id."""

    ids: np.ndarray
    created_us: np.ndarray
    columns: dict[str, pa.Array]  # already rendered as the file's text
    keys: pa.Array  # record key for the truth files


def _after(rng: np.random.Generator, start: np.ndarray, shape: float) -> np.ndarray:
    """A time between ``start`` and now, early more often than late (Beta(1, shape))."""
    span = np.maximum(NOW_US - 60_000_000 - start, 0)
    return start + (span * rng.beta(1.0, shape, size=start.size)).astype(np.int64)


def _household_partner(pop: Population, clients: Clients) -> np.ndarray:
    """For each client, another client of the same household (-1 if none): a likely co-user."""
    hh = pop.household[clients.person]
    order = np.argsort(hh, kind="stable")
    sorted_hh = hh[order]
    start = np.searchsorted(sorted_hh, sorted_hh, side="left")
    end = np.searchsorted(sorted_hh, sorted_hh, side="right")
    pos = np.arange(order.size)
    nxt = np.where(pos + 1 < end, pos + 1, start)
    partner_sorted = np.where(end - start > 1, order[nxt], -1)
    partner = np.empty_like(partner_sorted)
    partner[order] = partner_sorted
    return partner


def _file_of(created: np.ndarray) -> np.ndarray:
    """Which daily extract a record created at ``created`` lands in (0 = the first, full one)."""
    cuts = np.array([extract_time(FIRST_EXTRACT + k) for k in range(EXTRACT_DAYS)])
    return np.minimum(np.searchsorted(cuts, created, side="left"), EXTRACT_DAYS - 1)


def _make_late(rng: np.random.Generator, natural: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move a few records to a later day's file than their creation; at least one per later file."""
    delivered = natural.copy()
    late = pick(rng, natural.size, LATE_RATE, minimum=0, among=np.flatnonzero(natural < EXTRACT_DAYS - 1))
    delivered[late] = natural[late] + 1 + rng.integers(0, EXTRACT_DAYS - 1 - natural[late])
    for day in range(1, EXTRACT_DAYS):  # every later file gets at least one late record
        if not np.any(delivered[late] == day):
            allowed = natural < day
            allowed[late] = False
            candidates = np.flatnonzero(allowed)
            if candidates.size:
                extra = rng.choice(candidates)
                delivered[extra] = day
                late = np.sort(np.append(late, extra))
    return delivered, late


def _write_extract(
    rng: np.random.Generator,
    source: str,
    ext: Extract,
    out_dir: Path,
    stem: str,
    suffix: str,
    render: Callable[[dict[str, pa.Array]], pa.Array],
    field_dirt: list[tuple[np.ndarray, str]],
    truth: Truth,
    malformed: tuple[str, ...],
) -> tuple[list[Path], int]:
    """Split records into daily files, add duplicates and broken lines, log all dirt."""
    natural = _file_of(ext.created_us)
    delivered, late = _make_late(rng, natural)
    lines_all = render(ext.columns)
    paths: list[Path] = []
    total = 0
    where_line = np.zeros(ext.ids.size, dtype=np.int64)
    where_file = np.zeros(ext.ids.size, dtype=np.int64)
    for day in range(EXTRACT_DAYS):
        members = np.flatnonzero(delivered == day)
        # records of the day by id, late ones at the end (they were caught up with)
        late_mask = np.zeros(delivered.size, dtype=bool)
        late_mask[late] = True
        is_late = late_mask[members]
        members = np.concatenate([members[~is_late], members[is_late]])
        plan = dirt.plan_with_duplicates(rng, members.size, 0.002, minimum=1 if day == 0 else 0)
        lines = lines_all.take(pa.array(members[plan.order])) if members.size else pa.array([], pa.string())
        path = out_dir / f"{stem}_{_yyyymmdd(FIRST_EXTRACT + day)}.{suffix}"
        broken_at = np.zeros(0, dtype=np.int64)
        for kind in malformed:
            count = 1 if day == 0 else int(rng.random() < 0.5)
            pos = dirt.originals(plan, rng, count, exclude=broken_at)
            lines = dirt.break_lines(lines, pos, kind, rng)
            truth.dirt.add(
                source, path, plan.line_numbers(pos), ext.keys.take(pa.array(members[plan.order[pos]])), kind
            )
            broken_at = np.concatenate([broken_at, pos])
        total += write_text_file(path, lines)
        paths.append(path)
        copies = plan.copy_lines()
        truth.dirt.add(
            source, path, copies, ext.keys.take(pa.array(members[plan.order[plan.copy]])), dirt.DUPLICATE
        )
        if members.size:
            where_line[members] = plan.lines_of(np.arange(members.size))
            where_file[members] = day
    for rows, kind in [*field_dirt, (late, dirt.LATE)]:
        for day in range(EXTRACT_DAYS):
            sel = rows[where_file[rows] == day]
            truth.dirt.add(source, paths[day], where_line[sel], ext.keys.take(pa.array(sel)), kind)
    return paths, total


def _yyyymmdd(day: int) -> str:
    return compact_date(np.array([day]))[0].as_py()


def _set(col: pa.Array, rows: np.ndarray, values: pa.Array | str) -> pa.Array:
    if rows.size == 0:
        return col
    mask = np.zeros(len(col), dtype=bool)
    mask[rows] = True
    vals = pa.repeat(values, rows.size) if isinstance(values, str) else values
    return pc.replace_with_mask(col, pa.array(mask), vals.cast(col.type))


def _impossible(us: np.ndarray) -> pa.Array:
    """A datetime on the 30th of February of its year, same time of day."""
    good = datetime_text(us)
    return join(pc.utf8_slice_codeunits(good, 0, 4), "-02-30", pc.utf8_slice_codeunits(good, 10, 26))


@dataclass
class BankResult:
    files: dict[str, list[Path]]
    rows: dict[str, int]
    account_ids: np.ndarray
    account_created_us: np.ndarray


def generate(pop: Population, clients: Clients, seed: int, out: Path, truth: Truth) -> BankResult:
    """Write the account, disposition and card extracts; returns their files and line counts."""
    rng = rng_for(seed, "bank")
    n_clients = clients.client_id.size

    # accounts: most clients hold one to three; a few prospects hold none
    n_acc = np.where(rng.random(n_clients) < 0.04, 0, 1 + rng.poisson(1.05, size=n_clients))
    owner, rank = expand(n_acc)
    acc_created = np.where(
        rank == 0,
        clients.created_us[owner] + rng.integers(0, 2 * US_PER_DAY, size=owner.size),
        _after(rng, clients.created_us[owner], 2.5),
    )
    acc_created = np.minimum(acc_created, NOW_US - 60_000_000)
    order = np.argsort(acc_created, kind="stable")
    owner, acc_created = owner[order], acc_created[order]
    n_accounts = owner.size
    account_id = np.arange(1, n_accounts + 1, dtype=np.int64)
    home_branch = rng.integers(1, BRANCHES + 1, size=n_clients)
    branch = np.where(
        rng.random(n_accounts) < 0.8, home_branch[owner], rng.integers(1, BRANCHES + 1, size=n_accounts)
    )
    freq = rng.choice(3, size=n_accounts, p=[0.36, 0.32, 0.32])
    acc = Extract(
        ids=account_id,
        created_us=acc_created,
        columns={
            "account_id": text(account_id),
            "branch_id": text(branch),
            "frequency": pc.take(pa.array(FREQUENCIES), pa.array(freq)),
            "date_of_creation": datetime_text(acc_created),
        },
        keys=text(account_id),
    )
    acc_dirt = []
    rows = pick(rng, n_accounts, 0.001)
    acc.columns["frequency"] = _set(acc.columns["frequency"], rows, "XI")
    acc_dirt.append((rows, dirt.UNKNOWN_CODE))
    rows = pick(rng, n_accounts, 0.0005)
    acc.columns["date_of_creation"] = _set(
        acc.columns["date_of_creation"], rows, _impossible(acc_created[rows])
    )
    acc_dirt.append((rows, dirt.IMPOSSIBLE_DATE))
    rows = pick(rng, n_accounts, 0.001)
    acc.columns["branch_id"] = _set(acc.columns["branch_id"], rows, "")
    acc_dirt.append((rows, dirt.NULL))
    rows = pick(rng, n_accounts, 0.0005)
    acc.columns["branch_id"] = _set(
        acc.columns["branch_id"], rows, join("BR-", acc.columns["branch_id"].take(pa.array(rows)))
    )
    acc_dirt.append((rows, dirt.WRONG_TYPE))

    def csv_line(names: list[str]) -> Callable[[dict[str, pa.Array]], pa.Array]:
        return lambda c: join(*[c[k] for k in names], sep=",")

    files: dict[str, list[Path]] = {}
    counts: dict[str, int] = {}
    files["accounts"], counts["accounts"] = _write_extract(
        rng,
        "accounts",
        acc,
        out / "accounts",
        "account",
        "csv",
        csv_line(["account_id", "branch_id", "frequency", "date_of_creation"]),
        acc_dirt,
        truth,
        (dirt.MALFORMED_SHORT, dirt.MALFORMED_LONG),
    )

    # dispositions: every account has its owner; a fifth also a user, usually of the household
    partner = _household_partner(pop, clients)
    has_user = rng.random(n_accounts) < 0.2
    acc_with_user = np.flatnonzero(has_user)
    user = partner[owner[acc_with_user]]
    stranger = user < 0
    user[stranger] = rng.integers(0, n_clients, size=int(stranger.sum()))
    user_created = _after(rng, np.maximum(acc_created[acc_with_user], clients.created_us[user]), 3.0)
    d_account = np.concatenate([np.arange(n_accounts), acc_with_user])
    d_client = np.concatenate([owner, user])
    d_owner = np.concatenate([np.ones(n_accounts, bool), np.zeros(acc_with_user.size, bool)])
    d_created = np.concatenate([acc_created, user_created])
    order = np.argsort(d_created, kind="stable")
    d_account, d_client, d_owner, d_created = (
        d_account[order],
        d_client[order],
        d_owner[order],
        d_created[order],
    )
    n_disp = d_account.size
    disp_id = np.arange(1, n_disp + 1, dtype=np.int64)
    disp = Extract(
        ids=disp_id,
        created_us=d_created,
        columns={
            "account_id": text(account_id[d_account]),
            "disp_id": text(disp_id),
            "client_id": text(clients.client_id[d_client]),
            "type": pc.if_else(pa.array(d_owner), "owner", "user"),
        },
        keys=text(disp_id),
    )
    disp_dirt = []
    rows = pick(rng, n_disp, 0.0005)
    disp.columns["type"] = _set(disp.columns["type"], rows, "disponent")
    disp_dirt.append((rows, dirt.UNKNOWN_CODE))
    rows = pick(rng, n_disp, 0.001)
    disp.columns["client_id"] = _set(disp.columns["client_id"], rows, "")
    disp_dirt.append((rows, dirt.NULL))
    rows = pick(rng, n_disp, 0.0005)
    disp.columns["client_id"] = _set(
        disp.columns["client_id"], rows, join("C", disp.columns["client_id"].take(pa.array(rows)))
    )
    disp_dirt.append((rows, dirt.WRONG_TYPE))
    files["dispositions"], counts["dispositions"] = _write_extract(
        rng,
        "dispositions",
        disp,
        out / "dispositions",
        "disp",
        "csv",
        csv_line(["account_id", "disp_id", "client_id", "type"]),
        disp_dirt,
        truth,
        (dirt.MALFORMED_SHORT, dirt.MALFORMED_LONG),
    )
    truth.record("dispositions", disp.keys, person_ids(pop.person_id, clients.person[d_client]))

    # cards: owners usually hold one or two, renewed and replaced over time; juniors for minors
    n_cards = np.where(
        d_owner,
        rng.choice([0, 1, 2, 3, 4, 5, 7, 10], size=n_disp, p=[0.22, 0.4, 0.18, 0.09, 0.05, 0.03, 0.02, 0.01]),
        rng.choice([0, 1, 2], size=n_disp, p=[0.5, 0.38, 0.12]),
    )
    c_disp, _ = expand(n_cards)
    c_issued = _after(rng, d_created[c_disp], 1.5)
    order = np.argsort(c_issued, kind="stable")
    c_disp, c_issued = c_disp[order], c_issued[order]
    n_card = c_disp.size
    holder_birth = pop.birth[clients.person[d_client[c_disp]]]
    minor = _age_at(holder_birth, c_issued) < 18
    ctype = np.where(minor, 0, np.where(rng.random(n_card) < 0.35, 2, 1))
    card_no = luhn_complete(distinct_ints(rng, 400_000_000_000_000, 600_000_000_000_000, n_card), 15)
    widths = {name: width for name, _, width in CARD_LAYOUT}
    card = Extract(
        ids=np.arange(n_card),
        created_us=c_issued,
        columns={
            "card_id": text(card_no),
            "disp_id": text(disp_id[c_disp]),
            "type": pc.take(pa.array(CARD_TYPES), pa.array(ctype)),
            "issued_datetime": datetime_text(c_issued),
        },
        keys=text(card_no),
    )
    card_dirt = []
    rows = pick(rng, n_card, 0.0005)
    card.columns["type"] = _set(card.columns["type"], rows, "platinum")
    card_dirt.append((rows, dirt.UNKNOWN_CODE))
    rows = pick(rng, n_card, 0.0005)
    card.columns["issued_datetime"] = _set(card.columns["issued_datetime"], rows, _impossible(c_issued[rows]))
    card_dirt.append((rows, dirt.IMPOSSIBLE_DATE))
    rows = pick(rng, n_card, 0.0005)
    card.columns["disp_id"] = _set(card.columns["disp_id"], rows, "N/A")
    card_dirt.append((rows, dirt.WRONG_TYPE))
    rows = pick(rng, n_card, 0.0005)
    card.columns["disp_id"] = _set(card.columns["disp_id"], rows, " " * widths["disp_id"])
    card_dirt.append((rows, dirt.NULL))

    def fixed_width(c: dict[str, pa.Array]) -> pa.Array:
        parts = []
        for name, _, width in CARD_LAYOUT:
            col = c[name]
            if CARD_ALIGN[name] == "right0":
                digits = pc.match_substring_regex(col, "^[0-9]+$")
                col = pc.if_else(digits, pc.utf8_lpad(col, width, "0"), pc.utf8_rpad(col, width, " "))
            else:
                col = pc.utf8_rpad(col, width, " ")
            parts.append(pc.utf8_slice_codeunits(col, 0, width))
        return join(*parts)

    card_dir = out / "cards"
    files["cards"], counts["cards"] = _write_extract(
        rng,
        "cards",
        card,
        card_dir,
        "card",
        "txt",
        fixed_width,
        card_dirt,
        truth,
        (dirt.MALFORMED_TRUNCATED,),
    )
    (card_dir / "LAYOUT.txt").write_text(
        layout_text(CARD_LAYOUT, CARD_ALIGN, "Card origination extract (cards/card_YYYYMMDD.txt)")
    )
    assert record_width(CARD_LAYOUT) == sum(widths.values())
    return BankResult(files=files, rows=counts, account_ids=account_id, account_created_us=acc_created)


def _age_at(birth_day: np.ndarray, at_us: np.ndarray) -> np.ndarray:
    """Whole years between a birth date and a moment (approximate to a day, enough for card types)."""
    return ((at_us // US_PER_DAY - birth_day) / 365.2425).astype(np.int64)
