"""The simulated CRM API over real HTTP: pagination, the exclusive cursor, appends, and chaos."""

from __future__ import annotations

import json
import queue
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from c360.simulate.crm_server import ChaosSettings, CrmApiServer, run_server

START = datetime(2024, 5, 23, 6, 40, 13, 494626, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_records(count: int) -> list[dict[str, Any]]:
    """Records with ties on updated_at and later updates of the same client, as the file has."""
    records = []
    for i in range(count):
        moment = START + timedelta(seconds=i // 2)  # two records per timestamp: ties to order by id
        records.append({"client_id": 5000 + (i % 40), "updated_at": iso(moment), "age": 20 + i % 50})
    return records


def write_lines(path: Path, records: list[dict[str, Any]], *, shuffle: bool = True) -> Path:
    lines = [json.dumps(record) for record in records]
    if shuffle:
        random.Random(1).shuffle(lines)  # the server must sort, not trust the file's order
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def order(records: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return sorted((record["updated_at"], record["client_id"]) for record in records)


def walk(url: str) -> tuple[list[dict[str, Any]], list[str | None]]:
    """Every record reachable by following next links, and the links themselves."""
    records: list[dict[str, Any]] = []
    links: list[str | None] = []
    next_url: str | None = url
    while next_url is not None:
        page = httpx.get(next_url, timeout=5).raise_for_status().json()
        records.extend(page["data"])
        next_url = page["next"]
        links.append(next_url)
    return records, links


def test_pages_cover_every_record_exactly_once_in_order(tmp_path: Path) -> None:
    records = make_records(57)
    with CrmApiServer(write_lines(tmp_path / "clients.jsonl", records)) as server:
        served, links = walk(f"{server.url}?limit=10")
        assert server.stats == {"ok": 6}

    assert [(r["updated_at"], r["client_id"]) for r in served] == order(records)
    assert sorted(map(json.dumps, served)) == sorted(map(json.dumps, records))
    assert len(links) == 6 and links[-1] is None
    assert all(link.startswith(server.url + "?") for link in links[:-1])


def test_updated_since_is_exclusive_and_accepts_any_utc_spelling(tmp_path: Path) -> None:
    records = make_records(40)
    boundary = START + timedelta(seconds=7)  # records 14 and 15 carry exactly this timestamp
    expected = [key for key in order(records) if key[0] > iso(boundary)]
    with CrmApiServer(write_lines(tmp_path / "clients.jsonl", records)) as server:
        for spelling in (iso(boundary), boundary.isoformat(), boundary.replace(tzinfo=None).isoformat()):
            served, _ = walk(str(httpx.URL(server.url, params={"updated_since": spelling, "limit": 7})))
            assert [(r["updated_at"], r["client_id"]) for r in served] == expected
        # A raw '+' (not %2B) arrives as a space; the offset must still be read.
        raw = httpx.get(f"{server.url}?updated_since={boundary.isoformat()}&limit=100", timeout=5).json()
    assert len(expected) == 40 - 16
    assert len(raw["data"]) == len(expected)


def test_records_appended_while_paging_are_served_once(tmp_path: Path) -> None:
    records = make_records(30)
    path = write_lines(tmp_path / "clients.jsonl", records, shuffle=False)
    with CrmApiServer(path) as server:
        first = httpx.get(f"{server.url}?limit=10", timeout=5).json()
        later = [{"client_id": 9001, "updated_at": iso(START + timedelta(days=1)), "age": 1}]
        late_arrival = [{"client_id": 9002, "updated_at": iso(START), "age": 2}]  # before page 1's end
        assert server.add_records(later + late_arrival) == 2
        with path.open("a", encoding="utf-8") as file:  # a simulator appending to the file
            file.write(json.dumps({"client_id": 9003, "updated_at": iso(START + timedelta(days=2))}) + "\n")
            file.write('{"client_id": 9004, "updated_at": "2030-01-01T00:00:00Z"')  # no newline yet
        rest, _ = walk(first["next"])
        served = first["data"] + rest
        assert server.record_count == 33

    ids = [record["client_id"] for record in served]
    assert len(served) == 32  # 30 + 9001 + 9003; 9002 sorts before the token, 9004 is incomplete
    assert ids[-2:] == [9001, 9003]
    assert 9002 not in ids and 9004 not in ids
    assert len({json.dumps(r, sort_keys=True) for r in served}) == len(served)


def test_bad_requests_are_rejected_with_a_reason(tmp_path: Path) -> None:
    with CrmApiServer(write_lines(tmp_path / "clients.jsonl", make_records(3))) as server:
        bad_since = httpx.get(f"{server.url}?updated_since=yesterday", timeout=5)
        bad_token = httpx.get(f"{server.url}?page_token=bm9wZQ", timeout=5)
        bad_limit = httpx.get(f"{server.url}?limit=0", timeout=5)
        missing = httpx.get(server.url.replace("/clients", "/accounts"), timeout=5)
        assert server.stats == {"bad_request": 3, "not_found": 1}

    assert (bad_since.status_code, bad_token.status_code, bad_limit.status_code) == (400, 400, 400)
    assert "updated_since 'yesterday'" in bad_since.json()["error"]
    assert "page_token" in bad_token.json()["error"]
    assert missing.status_code == 404


def _outcomes(server: CrmApiServer, urls: list[str]) -> list[list[str]]:
    """For each URL, the outcome of each attempt until one succeeds (read from the server's stats,
    so a slow page is told from a merely busy machine)."""
    result = []
    with httpx.Client(timeout=5) as client:
        for url in urls:
            attempts = []
            while True:
                before = server.stats
                response = client.get(url)
                after = server.stats
                outcome = next(
                    name
                    for name in ("rate_limited", "server_error", "slow", "malformed", "ok")
                    if after.get(name, 0) > before.get(name, 0)
                )
                attempts.append(outcome)
                if outcome == "rate_limited":
                    assert response.status_code == 429
                    assert response.headers["Retry-After"] == "3"
                elif outcome == "server_error":
                    assert response.status_code == 500
                elif outcome == "malformed":
                    assert response.status_code == 200
                    with pytest.raises(json.JSONDecodeError):
                        json.loads(response.content)
                else:
                    assert response.status_code == 200
                    assert len(response.json()["data"]) == 1
                    break
            result.append(attempts)
    return result


def test_seeded_chaos_happens_repeats_and_gives_up_after_k_failures(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "clients.jsonl", make_records(60))
    chaos = ChaosSettings(
        rate_limit_rate=0.15,
        retry_after_seconds=3,
        server_error_rate=0.15,
        slow_rate=0.1,
        slow_seconds=0.05,
        malformed_rate=0.15,
        max_consecutive_failures=2,
    )
    runs = []
    for seed in (11, 11, 12):
        with CrmApiServer(path, seed=seed, chaos=chaos) as server:
            # Chaos is keyed on path and query, so each run's port does not change the draws.
            urls = [
                f"{server.url}?limit=1&updated_since={iso(START + timedelta(seconds=i))}" for i in range(29)
            ]
            runs.append(_outcomes(server, urls))

    same_seed, again, other_seed = runs
    assert same_seed == again
    assert same_seed != other_seed
    failures = [outcome for attempts in same_seed for outcome in attempts if outcome != "ok"]
    assert {"rate_limited", "server_error", "slow", "malformed"} <= set(failures)
    assert max(len(attempts) for attempts in same_seed) == 3  # K = 2 failures, then success


def test_chaos_rates_are_validated() -> None:
    with pytest.raises(ValueError, match="sum to ≤ 1"):
        ChaosSettings(rate_limit_rate=0.5, server_error_rate=0.6)


def test_stop_does_not_wait_for_a_slow_page(tmp_path: Path) -> None:
    chaos = ChaosSettings(
        rate_limit_rate=0, server_error_rate=0, malformed_rate=0, slow_rate=1, slow_seconds=60
    )
    server = CrmApiServer(write_lines(tmp_path / "clients.jsonl", make_records(3)), chaos=chaos).start()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(server.url, timeout=0.2)
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 2
    assert server.stats == {"slow": 1}


def test_run_server_blocks_until_stopped(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "clients.jsonl", make_records(5))
    started: queue.Queue[CrmApiServer] = queue.Queue()
    thread = threading.Thread(
        target=run_server, args=(path, "127.0.0.1", 0, None), kwargs={"on_start": started.put}, daemon=True
    )
    thread.start()
    server = started.get(timeout=5)
    assert len(httpx.get(server.url, timeout=5).json()["data"]) == 5
    assert thread.is_alive()
    server.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="c360 simulate"):
        CrmApiServer(tmp_path / "nope.jsonl")
