"""``c360 demo``: the whole platform on simulated data, embedded, in one command.

It simulates the bank and the store, starts their live systems (the CRM API on localhost and the
core-banking database, SQLite by default), writes the c360.toml a user would write for them, and
runs the pipeline. Later stages of the platform extend :func:`run_demo`.
"""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from c360.errors import C360Error

if TYPE_CHECKING:
    from c360.config import Project

MARKER = ".c360-demo"
# Transactions per account in the demo's core-banking database: a few weeks of activity.
TRANSACTIONS_PER_ACCOUNT = 10
LIVE_TRANSACTIONS = 2_000


def _file_source(name: str, kind: str, path: str, columns: tuple[str, ...] = (), *extra: str) -> str:
    """One [sources.<name>] block; ``columns`` names the fields of a headerless file."""
    lines = [f"[sources.{name}]", f'kind = "{kind}"', f'path = "{path}"']
    if columns:
        lines += ["header = false", "columns = [" + ", ".join(f'"{c}"' for c in columns) + "]"]
    return "\n".join([*lines, *extra]) + "\n"


def _file_sources(sources: Path, retail: str) -> dict[str, str]:
    """The c360.toml block of each simulated source read as files, by source name."""
    return {
        "accounts": _file_source(
            "accounts",
            "delimited",
            f"{sources}/accounts/account_*.csv",
            ("account_id", "branch_id", "frequency", "date_of_creation"),
        ),
        "dispositions": _file_source(
            "dispositions",
            "delimited",
            f"{sources}/dispositions/disp_*.csv",
            ("account_id", "disp_id", "client_id", "type"),
        ),
        "web_sessions": _file_source("web_sessions", "json_lines", f"{sources}/web_sessions/*.json"),
        "web_visitors": _file_source(
            "web_visitors", "delimited", f"{sources}/web_visitors/*.csv", ("fullVisitorId", "client_id")
        ),
        "retail_orders": _file_source("retail_orders", "delimited", f"{sources}/retail/{retail}"),
        "store_users": _file_source("store_users", "delimited", f"{sources}/store_users/*.csv"),
        "clickstream": _file_source("clickstream", "delimited", f"{sources}/clickstream/*.csv"),
    }


def person_sources_config(sources: Path, retail: str = "retail_orders*.csv") -> str:
    """c360.toml for the person sources of a simulation read as files (the CRM as its JSON-lines
    export): what identity resolution links, for the identity tests and benchmark."""
    blocks = _file_sources(sources, retail)
    crm = _file_source("crm", "json_lines", f"{sources}/crm/clients.jsonl")
    people = ("dispositions", "web_visitors", "retail_orders", "store_users")
    return '[lake]\npath = "lake"\n\n' + "\n".join([crm] + [blocks[name] for name in people])


def demo_config(sources: Path, crm_url: str, bank_url: str) -> str:
    from c360.simulate.layouts import CARD_LAYOUT

    layout = ",\n".join(f'  {{ name = "{n}", start = {s}, width = {w} }}' for n, s, w in CARD_LAYOUT)
    blocks = _file_sources(sources, "retail_orders*.csv")
    cards = _file_source(
        "cards", "fixed_width", f"{sources}/cards/card_*.txt", (), f"layout = [\n{layout},\n]"
    )
    rest = ("web_sessions", "web_visitors", "retail_orders", "store_users", "clickstream")
    files = [blocks["accounts"], blocks["dispositions"], cards] + [blocks[name] for name in rest]
    return f"""# Written by `c360 demo`: the sources of the simulated bank and store.
[lake]
path = "lake"

[sources.crm]
kind = "rest_api"
url = "{crm_url}"
page_size = 1000
timeout_seconds = 2.0
backoff_seconds = 0.2

[sources.transactions]
kind = "sql_database"
url = "{bank_url}"
table = "transactions"
watermark = "trans_id"

""" + "\n".join(files)


def sample_profile(project: Project) -> dict[str, object]:
    """A customer seen in most sources (accounts, web sessions, retail orders), for the demo to show."""
    from c360.lake.catalog import open_catalog
    from c360.lake.query import run_query

    rows = run_query(
        open_catalog(project),
        "SELECT * FROM analytics.customer_360 WHERE snapshot_date = (SELECT max(snapshot_date) "
        "FROM analytics.customer_360) ORDER BY (accounts > 0) DESC, (sessions > 0) DESC, (orders > 0) DESC, "
        "customer_id LIMIT 1",
    ).to_pylist()
    return rows[0] if rows else {}


def prepare_directory(directory: Path) -> None:
    """Start from an empty demo directory, never deleting anything the demo did not make."""
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise C360Error(
                f"{directory} is not empty and was not made by `c360 demo`",
                hint="pass --dir with a new or empty directory",
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("made by `c360 demo`; deleted and remade by the next demo run\n")


def run_demo(directory: Path, customers: int, seed: int) -> None:
    from c360.config import load_project
    from c360.console import (
        build_with_progress,
        ingest_with_progress,
        out,
        print_evaluation,
        print_identity_evaluation,
        print_identity_summary,
        print_profile,
        simulate_with_progress,
        stage_with_progress,
    )
    from c360.identity.runner import run_identity
    from c360.identity.scoring import score_resolution
    from c360.serve.store import publish
    from c360.simulate.clock import NOW_US
    from c360.simulate.crm_server import ChaosSettings, CrmApiServer
    from c360.simulate.transactions_db import create_schema, read_account_ids, write_transactions
    from c360.stream.evaluate import evaluate_simulation

    started = time.perf_counter()
    directory = directory.resolve()
    prepare_directory(directory)
    sources = directory / "sources"
    out.rule("1. simulate the source systems")
    simulate_with_progress(customers, seed, sources)

    bank_url = f"sqlite:///{sources / 'bank.db'}"
    accounts = read_account_ids(sources / "accounts")
    create_schema(bank_url)
    # The history ends at the simulated "now" (about one movement per account a day), so the
    # recent-activity windows of the dimensions have data.
    start = datetime(1970, 1, 1) + timedelta(
        microseconds=int(NOW_US) - TRANSACTIONS_PER_ACCOUNT * 86_400_000_000
    )
    written = write_transactions(bank_url, accounts, TRANSACTIONS_PER_ACCOUNT * len(accounts), seed, start)
    out.print(f"core-banking database {bank_url}: {written:,} transactions")

    # The CRM misbehaves a little, as real APIs do: the connector's retries are part of the demo.
    chaos = ChaosSettings(
        rate_limit_rate=0.03, server_error_rate=0.03, slow_rate=0.01, slow_seconds=3.0, malformed_rate=0.01
    )
    with CrmApiServer(sources / "crm" / "clients.jsonl", seed=seed, chaos=chaos) as crm:
        out.print(f"CRM API at {crm.url}")
        (directory / "c360.toml").write_text(demo_config(sources, crm.url, bank_url), encoding="utf-8")
        project = load_project(directory)

        out.rule("2. ingest every source into the raw zone")
        ingest_with_progress(project, None)

        out.rule("3. the core-banking writer keeps inserting; ingest again lands only what is new")
        more = write_transactions(bank_url, accounts, LIVE_TRANSACTIONS, seed + 1)
        out.print(f"{more:,} new transactions written")
        result = ingest_with_progress(project, ["transactions", "crm"])
        landed = {s.source: s.rows for s in result.sources}
        out.print(f"landed {landed['transactions']:,} new transactions (expected {more:,})")

    out.rule("4. stage: type and validate every batch against its contract")
    stage_with_progress(project, None)

    out.rule("5. identity: one stable customer_id per person across every source")
    with out.status("identity: starting…") as status:
        print_identity_summary(run_identity(project, lambda step: status.update(f"identity: {step}…")))
    print_identity_evaluation(*score_resolution(project, sources))

    out.rule("6. build the customer dimensions and customer_360, and publish them to the profile store")
    build_with_progress(project, None)
    published = publish(project)
    out.print(
        f"profile store version {published.version}: {published.customers:,} customers, "
        f"{published.identifiers:,} identifiers; serve them with `c360 serve --dir {directory}`"
    )

    out.rule("7. one customer, 360 degrees")
    print_profile(sample_profile(project))

    out.rule("8. the clickstream through the bot and flood detectors, scored against the injected attacks")
    print_evaluation(evaluate_simulation(sources))

    out.rule("done")
    out.print(f"demo finished in {time.perf_counter() - started:.1f} s; the project is {directory}")
    out.print(
        f'try: c360 sql --dir {directory} "SELECT source, count(*) AS batches, sum(rows) AS rows '
        'FROM raw.batches GROUP BY source ORDER BY source"'
    )
