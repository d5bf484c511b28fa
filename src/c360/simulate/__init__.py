"""Simulators of every source system c360 ingests, from one hidden population.

``generate(customers, seed, out)`` writes, under ``out``, what each source system would deliver
(see ``SOURCES.md``) and, under ``out/_truth``, the answers: which person each record is, which
attack episodes were injected, which lines were damaged. The same (customers, seed) always gives
byte-identical files; generation is vectorized (NumPy and Arrow), about a million customers in
well under a minute.

Layout under ``out``::

    crm/clients.jsonl                       CRM records (with later updates), served by the CRM API
    accounts/account_<YYYYMMDD>.csv         account extracts, headerless CSV
    dispositions/disp_<YYYYMMDD>.csv        disposition extracts, headerless CSV
    cards/card_<YYYYMMDD>.txt, LAYOUT.txt   card extracts, fixed width
    web_sessions/ga_sessions_<YYYYMMDD>.json   GA360 sessions, NDJSON
    web_visitors/ga_visitors.csv            fullVisitorId -> client_id, headerless
    retail/retail_orders.csv, retail_orders_2.csv   sales orders (BOM, header); the second drifted
    store_users/store_users.csv             online store accounts
    clickstream/events_<YYYYMMDD>.csv       store events with ip and user agent, attacks included
    _truth/records.csv, attacks.csv, dirt.csv, summary.json
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from c360.simulate import bank, clickstream, crm, retail, web
from c360.simulate.dirt import DirtLog
from c360.simulate.people import generate_population
from c360.simulate.truth import Truth

__all__ = ["SOURCES", "SimulationSummary", "generate"]

# Every source, in the order generated (and reported through ``progress``).
SOURCES = (
    "crm",
    "accounts",
    "dispositions",
    "cards",
    "retail_orders",
    "web_sessions",
    "web_visitors",
    "store_users",
    "clickstream",
)


@dataclass(frozen=True)
class SimulationSummary:
    """What one simulation wrote: files and data lines per source, the truth files, the time taken."""

    out: Path
    customers: int
    seed: int
    files: dict[str, list[Path]]
    rows: dict[str, int]  # data lines written per source (header lines excluded)
    truth: dict[str, Path] = field(default_factory=dict)
    people: int = 0  # size of the hidden population
    attacks: int = 0  # attack episodes injected into the clickstream
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def generate(
    customers: int,
    seed: int,
    out: Path,
    progress: Callable[[str, int], None] | None = None,
) -> SimulationSummary:
    """Simulate every source for ``customers`` CRM clients into ``out``; deterministic for a seed.

    ``progress(source, rows_written)`` is called once per source, in :data:`SOURCES` order, as
    soon as that source's files are complete.
    """
    if customers < 1:
        raise ValueError(f"customers must be at least 1, got {customers}")
    if seed < 0:
        raise ValueError(f"seed must not be negative, got {seed}")
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[Path]] = {}
    rows: dict[str, int] = {}

    def done(source: str, paths: list[Path], count: int) -> None:
        files[source] = paths
        rows[source] = count
        if progress is not None:
            progress(source, count)

    truth = Truth(out, DirtLog(out))
    pop = generate_population(customers, seed)
    clients, crm_files, crm_rows = crm.generate(pop, customers, seed, out, truth)
    done("crm", crm_files, crm_rows)
    extracts = bank.generate(pop, clients, seed, out, truth)
    for source in ("accounts", "dispositions", "cards"):
        done(source, extracts.files[source], extracts.rows[source])
    retail_files, retail_rows = retail.generate(pop, clients, seed, out, truth)
    done("retail_orders", retail_files, retail_rows)
    web_files, web_rows = web.generate(pop, clients, seed, out, truth)
    for source in ("web_sessions", "web_visitors"):
        done(source, web_files[source], web_rows[source])
    store_files, store_rows = clickstream.generate(pop, customers, seed, out, truth)
    for source in ("store_users", "clickstream"):
        done(source, store_files[source], store_rows[source])

    summary = {
        "seed": seed,
        "customers": customers,
        "people": pop.size,
        "attack_episodes": len(truth.attacks),
        "rows": rows,
        "files": {k: [p.relative_to(out).as_posix() for p in v] for k, v in files.items()},
    }
    truth_paths = truth.write(summary)
    return SimulationSummary(
        out=out,
        customers=customers,
        seed=seed,
        files=files,
        rows=rows,
        truth=truth_paths,
        people=pop.size,
        attacks=len(truth.attacks),
        seconds=time.perf_counter() - started,
    )
