"""Landing a ``rest_api`` source in raw: records/s and peak RSS, beside a plain HTTP client.

CRM-like records (names, email, a nested address, ``updated_at``) are served by the simulated CRM
API (``CrmApiServer``, no chaos) from a thread of this process, started before measuring; the
measured child processes only talk to it over HTTP. The peer is httpx alone fetching the same
pages (following the ``next`` links, decoding each page's JSON) without landing anything,
measured in the same run: c360's figure is judged by its ratio to it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import Figure, measure, preload_c360, timed

RECORDS = 200_000
PAGE_SIZE = 5_000


def make_clients(path: Path, records: int) -> None:
    import duckdb

    duckdb.sql(
        f"COPY (SELECT 5000 + range AS client_id, "
        f"['Anna','Jan','Eva','Petr','Marie','Karel'][1 + range % 6] AS first_name, "
        f"'Novak' || (range % 9973) AS last_name, "
        f"'client' || range || '@example.com' AS email, "
        f"'+420 6' || lpad(CAST(range % 100000000 AS VARCHAR), 8, '0') AS phone, "
        f"{{'street': (1 + range % 200) || ' Vinohradska', "
        f"'city': ['Praha','Brno','Ostrava'][1 + range % 3], "
        f"'postcode': lpad(CAST(10000 + range % 80000 AS VARCHAR), 5, '0'), 'country': 'CZ'}} AS address, "
        f"strftime(DATE '1950-01-01' + CAST(range % 18000 AS INTEGER), '%Y-%m-%d') AS birth_date, "
        f"strftime(TIMESTAMP '2024-01-01' + to_seconds(range * 7), '%Y-%m-%dT%H:%M:%SZ') AS updated_at "
        f"FROM range({records})) TO '{path}' (FORMAT json)"
    )


def config_for(url: str) -> str:
    return f'[sources.s]\nkind = "rest_api"\nurl = "{url}"\npage_size = {PAGE_SIZE}\n'


def land(url: str) -> tuple[float, int]:
    preload_c360()
    from c360.config import load_project
    from c360.raw.ingest import ingest

    with tempfile.TemporaryDirectory(prefix="c360-bench-") as directory:
        (Path(directory) / "c360.toml").write_text(config_for(url))
        project = load_project(directory)
        return timed(lambda: ingest(project).sources[0].rows)


def httpx_peer(url: str) -> tuple[float, int]:
    import httpx

    def fetch() -> int:
        records = 0
        next_url: str | None = f"{url}?limit={PAGE_SIZE}"
        with httpx.Client(timeout=10.0) as client:
            while next_url is not None:
                page = client.get(next_url).raise_for_status().json()
                records += len(page["data"])
                next_url = page["next"]
        return records

    return timed(fetch)


def run_rest(work: Path, repeat: int) -> list[Figure]:
    from c360.simulate.crm_server import CrmApiServer

    data = work / "clients.jsonl"
    make_clients(data, RECORDS)
    size_mb = data.stat().st_size / 1e6
    with CrmApiServer(data, chaos=None) as server:
        if server.record_count != RECORDS:
            raise AssertionError(f"the CRM server holds {server.record_count} records of {RECORDS}")
        seconds, peak, landed = measure(land, server.url, repeat=repeat)
        if landed != RECORDS:
            raise AssertionError(f"rest_api: landed {landed} records of {RECORDS}")
        peer_seconds, peer_peak, fetched = measure(httpx_peer, server.url, repeat=repeat)
        if fetched != RECORDS:
            raise AssertionError(f"rest_api: the peer fetched {fetched} records of {RECORDS}")
    size = f"{RECORDS:,} records, {size_mb:,.0f} MB JSON, pages of {PAGE_SIZE:,}"
    return [
        Figure("land.rest_api", size, "records_per_s", RECORDS / seconds, "records/s"),
        Figure("land.rest_api", size, "mb_per_s", size_mb / seconds, "MB/s", "JSON served / s"),
        Figure("land.rest_api", size, "seconds", seconds, "s"),
        Figure("land.rest_api", size, "peak_rss", peak / 2**20, "MiB"),
        Figure(
            "land.rest_api",
            size,
            "peer_seconds",
            peer_seconds,
            "s",
            f"plain httpx GET loop + .json(), no landing; peak {peer_peak / 2**20:,.0f} MiB",
        ),
        Figure("land.rest_api", size, "ratio_to_peer", seconds / peer_seconds, "x"),
    ]
