"""The CRM: one JSON record per client, as the CRM's REST API will serve them.

The CRM is the bank's careful system: formal given names, one phone notation, full street
names. It is still wrong in the ways a CRM is: a few people registered twice (a second client id,
a nickname, another e-mail), addresses and surnames that were true at registration and changed
since, which reach the CRM as *updates* (the same client again, a later ``updated_at``). The
file is written as ``crm/clients.jsonl``; the CRM server pages it by ``updated_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.simulate import dirt, names, people, variants
from c360.simulate.clock import BANK_START_US, NOW_US, TODAY, age_on, ymd
from c360.simulate.fmt import (
    US_PER_DAY,
    datetime_text,
    iso_date,
    join,
    json_num,
    json_str,
    text,
    write_text_file,
    zpad,
)
from c360.simulate.people import Population
from c360.simulate.rand import pick, rng_for
from c360.simulate.truth import Truth, person_ids

FIRST_CLIENT_ID = 5000
UPDATE_RATE = 0.03  # of clients with no particular reason to change, who still change a detail
FIELDS = [
    "client_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "address",
    "city",
    "country",
    "birth_date",
    "age",
    "home_ownership",
    "occupation",
    "marital_status",
    "head_of_household_flag",
    "client_created_date",
    "updated_at",
]
CHANGES = ["moved", "married", "email", "phone", "occupation"]


@dataclass
class Clients:
    """The CRM's clients, ordered by client id; what the bank extracts hang off."""

    client_id: np.ndarray
    person: np.ndarray  # row in the population
    created_us: np.ndarray
    second_registration: np.ndarray  # the same person registered before under another id


def _clients(rng: np.random.Generator, pop: Population, customers: int) -> Clients:
    bank = np.flatnonzero(pop.in_bank)
    adults = bank[age_on(pop.birth[bank], TODAY) >= 18]
    n_dup = max(0, customers - bank.size)
    dup = np.sort(rng.choice(adults, size=min(n_dup, adults.size), replace=False))
    person = np.concatenate([bank, dup])
    span = NOW_US - 3_600_000_000 - BANK_START_US
    created = BANK_START_US + (rng.random(person.size) * span).astype(np.int64)
    # a second registration comes after the first one
    first_created = created[: bank.size][np.searchsorted(bank, dup)]
    later = first_created + ((NOW_US - 3_600_000_000 - first_created) * rng.random(dup.size)).astype(np.int64)
    created[bank.size :] = later
    order = np.argsort(created, kind="stable")
    is_dup = np.zeros(person.size, dtype=bool)
    is_dup[bank.size :] = True
    return Clients(
        client_id=FIRST_CLIENT_ID + np.arange(person.size, dtype=np.int64),
        person=person[order],
        created_us=created[order],
        second_registration=is_dup[order],
    )


def _impossible_dates(days: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Dates that cannot exist: the 30th of February or a 13th month, in ISO form."""
    y, _, d = ymd(days)
    feb30 = rng.random(days.size) < 0.5
    return pc.if_else(
        pa.array(feb30),
        join(text(y), "-02-30"),
        join(text(y), "-13-", zpad(d, 2)),
    )


def generate(
    pop: Population, customers: int, seed: int, out: Path, truth: Truth
) -> tuple[Clients, list[Path], int]:
    """Write ``crm/clients.jsonl``; returns the clients, the file and its line count."""
    rng = rng_for(seed, "crm")
    clients = _clients(rng, pop, customers)
    n = clients.person.size
    p = clients.person
    dup = clients.second_registration

    # how the CRM wrote each client when registering them
    first = pop.first[p].copy()
    nick = names.first_names().nickname[first]
    use_nick = dup & (nick >= 0) & (rng.random(n) < 0.6)
    first[use_nick] = nick[use_nick]
    first_typo = np.where(
        dup & ~use_nick & (rng.random(n) < 0.5), rng.integers(1, names.TYPO_VARIANTS + 1, n), 0
    )
    first_typo = np.where(~dup & (rng.random(n) < 0.005), 1, first_typo)  # a rare slip even here
    maiden = pop.crm_maiden[p]
    last_now = pop.last[p]
    last_then = np.where(maiden, pop.maiden[p], last_now)

    change = np.full(n, -1)
    change[pop.moved[p] & (rng.random(n) < 0.6)] = 0
    change[maiden & (rng.random(n) < 0.7)] = 1
    other = (change < 0) & (rng.random(n) < UPDATE_RATE)
    change[other] = rng.integers(2, len(CHANGES), size=int(other.sum()))
    updated = np.flatnonzero(change >= 0)

    email_now = pc.take(pop.email, pa.array(p))
    old_email = pc.take(pop.old_email, pa.array(p))
    email_then = pc.if_else(pa.array((change == 2) | (dup & (rng.random(n) < 0.5))), old_email, email_now)
    phone_now = pop.phone[p]
    phone_then = np.where(change == 3, rng.integers(2_000_000_000, 9_999_999_999, size=n), phone_now)
    occ_now = pop.occupation[p]
    occ_then = np.where(change == 4, rng.integers(0, people.STUDENT, size=n), occ_now)
    marital_then = np.where(maiden, 1, pop.marital[p])

    cols: dict[str, pa.Array] = {
        "client_id": text(clients.client_id),
        "first_name": json_str(variants.first_name_text(first, first_typo)),
        "last_name": json_str(variants.last_name_text(last_then, np.zeros(n, dtype=np.int64))),
        "email": json_str(email_then),
        "phone": json_str(variants.phone_text(pop.phone_cc[p], phone_then, variants.CRM_PHONE)),
        "address": json_str(
            variants.street_address(pop.street_no[p], pop.street[p], pop.street_type[p], False)
        ),
        "city": json_str(variants.city_text(pop.city[p])),
        "country": json_str(variants.country_text(pop.city[p])),
        "birth_date": json_str(iso_date(pop.birth[p])),
        "age": json_num(age_on(pop.birth[p], TODAY)),
        "home_ownership": json_str(pc.take(pa.array(people.OWNERSHIP), pa.array(pop.ownership[p]))),
        "occupation": json_str(pc.take(pa.array(people.OCCUPATIONS), pa.array(occ_then))),
        "marital_status": json_str(pc.take(pa.array(people.MARITAL), pa.array(marital_then))),
        "head_of_household_flag": json_str(pc.if_else(pa.array(pop.head[p]), "Y", "N")),
        "client_created_date": json_str(datetime_text(clients.created_us)),
    }
    touched = rng.random(n) < 0.4
    first_update = clients.created_us + np.where(
        touched,
        ((NOW_US - clients.created_us) * rng.random(n) * 0.5).astype(np.int64),
        rng.integers(0, 5000, n),
    )
    cols["updated_at"] = json_str(datetime_text(first_update, suffix="Z"))

    # dirt in fields, logged by client row
    field_dirt: list[tuple[np.ndarray, str]] = []
    null_email = pick(rng, n, 0.02)
    null_phone = pick(rng, n, 0.02)
    null_address = pick(rng, n, 0.003)
    for rows, col in ((null_email, "email"), (null_phone, "phone"), (null_address, "address")):
        cols[col] = _set(cols[col], rows, pa.repeat("null", rows.size))
        field_dirt.append((rows, dirt.NULL))
    bad_birth = pick(rng, n, 0.0005)
    cols["birth_date"] = _set(
        cols["birth_date"], bad_birth, json_str(_impossible_dates(pop.birth[p[bad_birth]], rng))
    )
    field_dirt.append((bad_birth, dirt.IMPOSSIBLE_DATE))
    bad_age = pick(rng, n, 0.0005)
    cols["age"] = _set(cols["age"], bad_age, pa.repeat('"unknown"', bad_age.size))
    field_dirt.append((bad_age, dirt.WRONG_TYPE))
    bad_code = pick(rng, n, 0.0005)
    cols["home_ownership"] = _set(cols["home_ownership"], bad_code, pa.repeat('"X"', bad_code.size))
    bad_marital = pick(rng, n, 0.0005)
    cols["marital_status"] = _set(cols["marital_status"], bad_marital, pa.repeat('"W"', bad_marital.size))
    field_dirt += [(bad_code, dirt.UNKNOWN_CODE), (bad_marital, dirt.UNKNOWN_CODE)]

    # updates: the same client again, with what changed and a later updated_at
    u = updated
    kind = change[u]
    upd = {k: v.take(pa.array(u)) for k, v in cols.items()}

    def swap(col: str, mask: np.ndarray, values: pa.Array) -> None:
        upd[col] = pc.if_else(pa.array(mask), values, upd[col])

    moved = kind == 0
    swap(
        "address",
        moved,
        json_str(
            variants.street_address(
                pop.new_street_no[p[u]], pop.new_street[p[u]], pop.new_street_type[p[u]], False
            )
        ),
    )
    swap("city", moved, json_str(variants.city_text(pop.new_city[p[u]])))
    swap("country", moved, json_str(variants.country_text(pop.new_city[p[u]])))
    married = kind == 1
    swap(
        "last_name", married, json_str(variants.last_name_text(last_now[u], np.zeros(u.size, dtype=np.int64)))
    )
    swap("marital_status", married, pa.repeat('"M"', u.size))
    swap("email", kind == 2, json_str(email_now.take(pa.array(u))))
    swap(
        "phone",
        kind == 3,
        json_str(variants.phone_text(pop.phone_cc[p[u]], phone_now[u], variants.CRM_PHONE)),
    )
    swap("occupation", kind == 4, json_str(pc.take(pa.array(people.OCCUPATIONS), pa.array(occ_now[u]))))
    later = first_update[u] + ((NOW_US - first_update[u]) * rng.uniform(0.05, 1.0, u.size)).astype(np.int64)
    upd["updated_at"] = json_str(
        datetime_text(np.maximum(later, first_update[u] + US_PER_DAY // 24), suffix="Z")
    )
    upd_order = rng.permutation(u.size)

    def line(c: dict[str, pa.Array]) -> pa.Array:
        parts: list[pa.Array | str] = ["{"]
        for i, name in enumerate(FIELDS):
            parts += [("," if i else "") + f'"{name}":', c[name]]
        parts.append("}")
        return join(*parts)

    records = pa.concat_arrays([line(cols), line(upd).take(pa.array(upd_order))])
    record_client = np.concatenate([np.arange(n), u[upd_order]])
    plan = dirt.plan_with_duplicates(rng, records.__len__(), 0.003)
    lines = records.take(pa.array(plan.order))
    path = out / "crm" / "clients.jsonl"
    written = write_text_file(path, lines)

    keys = text(clients.client_id)
    for rows, kind_name in field_dirt:
        truth.dirt.add("crm", path, plan.lines_of(rows), keys.take(pa.array(rows)), kind_name)
    upd_records = n + np.arange(u.size)
    truth.dirt.add(
        "crm", path, plan.lines_of(upd_records), keys.take(pa.array(record_client[upd_records])), dirt.UPDATE
    )
    copies = plan.copy_lines()
    truth.dirt.add(
        "crm", path, copies, keys.take(pa.array(record_client[plan.order[plan.copy]])), dirt.DUPLICATE
    )
    truth.record("crm", keys, person_ids(pop.person_id, p))
    return clients, [path], written


def _set(col: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """``col`` with ``rows`` (sorted) replaced by ``values``."""
    if rows.size == 0:
        return col
    mask = np.zeros(len(col), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(col, pa.array(mask), values.cast(col.type))
