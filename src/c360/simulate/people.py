"""The hidden population: the real people behind every record of every source.

Each person has a hidden ``person_id`` that only the ground truth carries. People live in
households, which is where the hard identity cases come from: spouses and children share an
address and a surname, twins share a birth date as well, some members share one e-mail address or
one landline, married women may appear under a maiden name, and whole households move. Which
sources know a person is decided here too, so that some people exist in one source only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.simulate import names, places
from c360.simulate.clock import TODAY, age_on
from c360.simulate.fmt import assemble, join, text, zpad
from c360.simulate.rand import expand, rng_for, weighted_sample

HEAD, SPOUSE, CHILD, OTHER = 0, 1, 2, 3
OCCUPATIONS = [
    *names.words(
        """accountant actor actress architect artist attorney banker barber bartender bookkeeper builder
businessman businesswoman butcher carpenter cashier chef coach dentist designer developer dietician doctor
economist editor electrician engineer farmer filmmaker fisherman jeweler judge lawyer mechanic musician nurse
nutritionist optician painter pharmacist photographer physician pilot plumber professor programmer
psychologist receptionist salesperson secretary singer teacher"""
    ),
    "dental hygienist",
    "air traffic controller",
    "flight attendant",
    "police officer",
]
STUDENT = len(OCCUPATIONS)
RETIRED = STUDENT + 1
OCCUPATIONS += ["student", "retired"]
OWNERSHIP = ["O", "R", "U"]
MARITAL = ["M", "S", "D"]

# Share of the population (relative to --customers) and per-source membership rates.
POPULATION_PER_CUSTOMER = 1.55
DUPLICATE_REGISTRATION_RATE = 0.006  # CRM clients that are a second registration of the same person


@dataclass
class Population:
    """Column arrays, one row per person; indices into the pools of ``names`` and ``places``."""

    size: int
    person_id: pa.Array  # the hidden label, "P000123456"; never written into a data file
    household: np.ndarray
    role: np.ndarray
    female: np.ndarray
    first: np.ndarray
    last: np.ndarray  # surname today
    maiden: np.ndarray  # the surname before marriage, or -1
    crm_maiden: np.ndarray  # registered at the bank under the maiden name
    birth: np.ndarray  # days since the epoch
    twin_of: np.ndarray  # the twin's index, or -1
    email: pa.Array  # e-mail in use today (null for young children)
    old_email: pa.Array  # an older address that stale systems still hold
    shares_email: np.ndarray  # uses another household member's e-mail
    phone_cc: np.ndarray  # country calling code
    phone: np.ndarray  # 10-digit national number
    shares_phone: np.ndarray
    street_no: np.ndarray  # address when first known
    street: np.ndarray
    street_type: np.ndarray
    city: np.ndarray
    moved: np.ndarray  # the household moved since: the new_* fields differ
    new_street_no: np.ndarray
    new_street: np.ndarray
    new_street_type: np.ndarray
    new_city: np.ndarray
    occupation: np.ndarray
    ownership: np.ndarray
    marital: np.ndarray
    head: np.ndarray
    in_bank: np.ndarray
    in_store: np.ndarray
    in_retail: np.ndarray
    in_web: np.ndarray

    @property
    def age(self) -> np.ndarray:
        return age_on(self.birth, TODAY)


def _year_days(years: np.ndarray | float) -> np.ndarray:
    return np.round(np.asarray(years) * 365.2425).astype(np.int64)


def _households(
    rng: np.random.Generator, target: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Household sizes like a census: a third live alone, few households exceed four people."""
    n_households = max(1, int(np.ceil(target / 2.25)))
    sizes = rng.choice([1, 2, 3, 4, 5], p=[0.34, 0.31, 0.15, 0.13, 0.07], size=n_households)
    household, rank = expand(sizes)
    couple = (sizes >= 2) & (rng.random(n_households) < 0.78)
    return household, rank, sizes, couple


def _email_local(
    rng: np.random.Generator, first: np.ndarray, last: np.ndarray, birth: np.ndarray
) -> pa.Array:
    """The part before @ as people pick it: first.last, flast, last.first... often with digits."""
    fn, ln = names.first_names(), names.last_names()
    pattern = rng.choice(7, size=first.size, p=[0.3, 0.15, 0.15, 0.1, 0.1, 0.1, 0.1])

    def f(rows: np.ndarray) -> pa.Array:
        return pc.take(fn.folded, pa.array(first[rows]))

    def la(rows: np.ndarray) -> pa.Array:
        return pc.take(ln.folded, pa.array(last[rows]))

    def fi(rows: np.ndarray) -> pa.Array:
        return pc.utf8_slice_codeunits(f(rows), 0, 1)

    local = assemble(
        pattern,
        [
            lambda r: join(f(r), ".", la(r)),
            lambda r: join(f(r), la(r)),
            lambda r: join(fi(r), ".", la(r)),
            lambda r: join(f(r), "_", la(r)),
            lambda r: join(la(r), ".", f(r)),
            lambda r: join(f(r), ".", pc.utf8_slice_codeunits(la(r), 0, 1)),
            lambda r: join(fi(r), la(r)),
        ],
    )
    kind = rng.random(first.size)
    year2 = zpad(((birth // 365.2425).astype(np.int64) + 1970) % 100, 2)
    number = text(rng.integers(1, 1000, size=first.size))
    suffix = pc.if_else(
        pa.array(kind < 0.25), year2, pc.if_else(pa.array(kind < 0.55), number, pa.scalar(""))
    )
    return join(local, suffix)


def _domain(rng: np.random.Generator, n: int, old: bool = False) -> pa.Array:
    if old:
        pool = places.OLD_EMAIL_DOMAINS
        idx = rng.integers(0, len(pool), size=n)
    else:
        pool = places.EMAIL_DOMAINS
        w = places.EMAIL_DOMAIN_WEIGHTS / places.EMAIL_DOMAIN_WEIGHTS.sum()
        idx = rng.choice(len(pool), size=n, p=w)
    return pc.take(pa.array(pool), pa.array(idx))


def generate_population(customers: int, seed: int) -> Population:
    """Draw the population behind ``customers`` CRM clients (about 1.55 people per client)."""
    rng = rng_for(seed, "people")
    target = int(customers * POPULATION_PER_CUSTOMER) + 20
    household, rank, sizes, couple = _households(rng, target)
    n = household.size
    role = _roles(rng, household, rank, couple)
    starts = np.cumsum(sizes) - sizes
    head_of = starts[household]

    # sex: spouses are mostly of the other sex than the head
    female = rng.random(n) < 0.5
    spouse = role == SPOUSE
    female[spouse] = np.where(
        rng.random(int(spouse.sum())) < 0.95, ~female[head_of[spouse]], female[head_of[spouse]]
    )

    # birth dates: heads 22-88, spouses near the head, children 20-42 years younger than the head
    head_age = 22 + rng.beta(1.6, 1.9, size=n) * 66
    birth = TODAY - _year_days(head_age) - rng.integers(0, 365, size=n)
    birth_head = birth[head_of]
    birth = np.where(spouse, birth_head + _year_days(rng.normal(0, 4, size=n)), birth)
    child = role == CHILD
    birth = np.where(child, birth_head + _year_days(rng.uniform(20, 42, size=n)), birth)
    other = role == OTHER
    birth = np.where(other, birth_head + _year_days(rng.normal(0, 8, size=n)), birth)
    birth = np.minimum(birth, TODAY - 30)
    birth = np.where(other, np.minimum(birth, TODAY - _year_days(18)), birth)

    # twins: the second and third children of some large households share a birth date
    twin_of = np.full(n, -1, dtype=np.int64)
    twin_hh = (sizes >= 4) & (rng.random(sizes.size) < 0.12)
    second_child = np.flatnonzero(twin_hh[household] & (rank == 3) & child)
    first_child = second_child - 1
    ok = role[first_child] == CHILD
    second_child, first_child = second_child[ok], first_child[ok]
    birth[second_child] = birth[first_child]
    twin_of[second_child] = first_child
    twin_of[first_child] = second_child

    first = names.draw_first(rng, female)
    sc = second_child[first[second_child] == first[first_child]]
    nf, nm = names.female_count(), len(names.MALE)
    first[sc] = np.where(female[sc], (first[sc] + 1) % nf, nf + (first[sc] - nf + 1) % nm)

    # surnames: the household's; wives may have changed theirs at marriage
    household_last = names.draw_last(rng, sizes.size)
    own_last = names.draw_last(rng, n)
    last = household_last[household].astype(np.int32)
    last[other] = own_last[other]
    maiden = np.full(n, -1, dtype=np.int32)
    in_couple = (role == HEAD) & couple[household] | spouse
    wife = in_couple & female
    # the wife is the female member of an opposite-sex couple
    partner_female = np.zeros(n, dtype=bool)
    partner_female[head_of[spouse]] = female[spouse]
    wife &= ~((role == HEAD) & partner_female)
    changed = wife & (rng.random(n) < 0.7)
    maiden[changed] = own_last[changed]
    kept = wife & ~changed
    last[kept] = own_last[kept]
    crm_maiden = changed & (rng.random(n) < 0.35)

    # e-mail: children under 13 have none; some members use the head's address
    age = age_on(birth, TODAY)
    email_last = np.where((maiden >= 0) & (rng.random(n) < 0.6), maiden, last)
    email = join(_email_local(rng, first, email_last, birth), "@", _domain(rng, n))
    old_email = join(_email_local(rng, first, last, birth), "@", _domain(rng, n, old=True))
    young = age < 13
    shares_email = (role != HEAD) & ~young & (rng.random(n) < 0.12) & (age[head_of] >= 13)
    email = pc.if_else(pa.array(shares_email), pc.take(email, pa.array(head_of)), email)
    email = pc.if_else(pa.array(young), pa.scalar(None, pa.string()), email)

    # address: per household; 8% of households moved since the bank first knew them
    geo = places.geography()
    hh_city = places.draw_city(rng, sizes.size)
    hh_street = rng.integers(0, len(places.STREETS), size=sizes.size)
    hh_type = rng.integers(0, len(places.STREET_TYPES), size=sizes.size)
    hh_no = np.minimum(1 + rng.geometric(0.012, size=sizes.size), 9999)
    hh_moved = rng.random(sizes.size) < 0.08
    far = rng.random(sizes.size) < 0.3
    hh_new_city = np.where(far, places.draw_city(rng, sizes.size), places.draw_city_in_country(rng, hh_city))
    hh_new_city = np.where(hh_moved, hh_new_city, hh_city)
    hh_new_street = np.where(hh_moved, rng.integers(0, len(places.STREETS), size=sizes.size), hh_street)
    hh_new_type = np.where(hh_moved, rng.integers(0, len(places.STREET_TYPES), size=sizes.size), hh_type)
    hh_new_no = np.where(hh_moved, np.minimum(1 + rng.geometric(0.012, size=sizes.size), 9999), hh_no)

    phone_cc = geo.calling_code[geo.city_country[hh_new_city[household]]]
    phone = rng.integers(2_000_000_000, 9_999_999_999, size=n, dtype=np.int64)
    shares_phone = (role != HEAD) & (rng.random(n) < 0.15)
    phone = np.where(shares_phone, phone[head_of], phone)

    occupation = rng.integers(0, STUDENT, size=n)
    occupation = np.where(age < 22, STUDENT, np.where(age >= 67, RETIRED, occupation))
    ownership = rng.choice(3, size=sizes.size, p=[0.45, 0.35, 0.20])[household]
    marital = np.where(in_couple, 0, np.where(rng.random(n) < 0.65, 1, 2))
    marital = np.where(age < 20, 1, marital)

    # which systems know whom
    bank_weight = np.where(age < 12, 0.03, np.where(age < 18, 0.25, 1.0))
    n_dup = round(customers * DUPLICATE_REGISTRATION_RATE)
    in_bank = np.zeros(n, dtype=bool)
    in_bank[weighted_sample(rng, bank_weight, min(n, customers - n_dup))] = True
    u = rng.random((3, n))
    in_store = (age >= 16) & (u[0] < np.where(in_bank, 0.38, 0.45))
    in_retail = (age >= 23) & (age <= 70) & (u[1] < np.where(in_bank, 0.07, 0.10))
    in_web = (age >= 14) & (u[2] < np.where(in_bank, 0.40, 0.22))

    label = rng.permutation(n) + 1
    return Population(
        size=n,
        person_id=join("P", zpad(label, 9)),
        household=household,
        role=role,
        female=female,
        first=first,
        last=last,
        maiden=maiden,
        crm_maiden=crm_maiden,
        birth=birth.astype(np.int64),
        twin_of=twin_of,
        email=email,
        old_email=old_email,
        shares_email=shares_email,
        phone_cc=phone_cc.astype(np.int32),
        phone=phone,
        shares_phone=shares_phone,
        street_no=hh_no[household],
        street=hh_street[household],
        street_type=hh_type[household],
        city=hh_city[household],
        moved=hh_moved[household],
        new_street_no=hh_new_no[household],
        new_street=hh_new_street[household],
        new_street_type=hh_new_type[household],
        new_city=hh_new_city[household],
        occupation=occupation,
        ownership=ownership,
        marital=marital,
        head=role == HEAD,
        in_bank=in_bank,
        in_store=in_store,
        in_retail=in_retail,
        in_web=in_web,
    )


def _roles(
    rng: np.random.Generator, household: np.ndarray, rank: np.ndarray, couple: np.ndarray
) -> np.ndarray:
    role = np.full(household.size, CHILD, dtype=np.int8)
    role[rank == 0] = HEAD
    second = rank == 1
    role[second & couple[household]] = SPOUSE
    lone_second = second & ~couple[household]
    role[lone_second & (rng.random(household.size) < 0.5)] = OTHER
    return role


def household_partner(pop: Population, eligible: np.ndarray) -> np.ndarray:
    """For each person, another eligible member of the same household, or -1.

    People are stored household by household, so the eligible members of a household are a
    contiguous run of the sorted eligible indices.
    """
    idx = np.flatnonzero(eligible)
    if idx.size == 0:
        return np.full(pop.size, -1, dtype=np.int64)
    hh = pop.household[idx]
    start = np.searchsorted(hh, pop.household, side="left")
    end = np.searchsorted(hh, pop.household, side="right")
    has = end > start
    first = idx[np.minimum(start, idx.size - 1)]
    second_pos = np.minimum(start + 1, idx.size - 1)
    second = np.where(start + 1 < end, idx[second_pos], -1)
    partner = np.where(first != np.arange(pop.size), first, second)
    return np.where(has, partner, -1)
