"""The profile store and API under load: publish time, then requests/s and latency percentiles of
lookups by id and by e-mail and of search, beside a bare FastAPI endpoint.

Both servers run the same way (uvicorn, one worker, access log off) on loopback and are loaded
with the same wrk settings, in the same run; wrk comes from Debian (`apt-get install wrk`). The
peer is a FastAPI app whose only route returns a constant: the ratio says what c360's lookup,
authentication, masking, metrics and audit cost on top of the framework.

Publishing is timed in fresh processes (median, and the peak RSS of the largest), replacing the
version the demo published, as a nightly publish does. A last wrk run loads the id lookup while
the store publishes again: every answer must be a 200 (readers only ever see complete versions).

Environment:
- ``C360_BENCH_SERVE_PROJECT``: a demo project already built at the requested size (``c360 demo
  --customers N --seed 9 --dir ...``), to skip the demo build (about ten minutes at 1M);
- ``C360_BENCH_POSTGRES_URL``: also time a publish into the PostgreSQL profile store there.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import Figure, measure, timed

SECONDS = 30
CONNECTIONS = 32
THREADS = 2
SAMPLE_CUSTOMER = 5001
PEER_APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/v1/customers/{customer_id}")
async def constant(customer_id: int) -> dict:
    return {"customer_id": customer_id, "status": "ok"}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with code {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


def _wrk(url: str, key: str | None, seconds: int = SECONDS) -> dict[str, float]:
    header = ["-H", f"Authorization: Bearer {key}"] if key else []
    result = subprocess.run(
        ["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s", "--latency", *header, url],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))}
    for label in ("50%", "99%"):
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", result.stdout).groups()
        figures[label] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    failed = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", result.stdout)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", result.stdout)
    figures["failed"] = float(failed.group(1)) if failed else 0.0
    figures["socket_errors"] = float(sum(int(n) for n in errors.groups())) if errors else 0.0
    figures["requests"] = float(re.search(r"(\d+) requests in", result.stdout).group(1))
    return figures


def _serve(command: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _publish_once(directory: Path) -> tuple[float, Any]:
    """Seconds, and (profiles, identifiers, CPU seconds of every thread): on a shared machine the
    CPU time says what the publish costs when the wall time says mostly how busy the machine was."""
    from c360.config import load_project
    from c360.serve.store import publish_sqlite, store_path

    project = load_project(directory)
    cpu = _cpu_seconds()
    seconds, result = timed(lambda: publish_sqlite(project, store_path(project)))
    return seconds, (result.customers, result.identifiers, _cpu_seconds() - cpu)


def _publish_postgres_once(directory: Path, url: str) -> tuple[float, Any]:
    import psycopg

    from c360.config import load_project
    from c360.serve.store_postgres import publish_postgres

    project = load_project(directory)
    seconds, result = timed(lambda: publish_postgres(project, url, "c360_bench"))
    with psycopg.connect(url, autocommit=True) as con:  # the benchmark's copy is not kept
        con.execute(f"DROP SCHEMA c360_bench_v{result.version} CASCADE")
        con.execute("DROP SCHEMA c360_bench CASCADE")
    return seconds, (result.customers, result.identifiers)


def _samples(directory: Path) -> tuple[str, str]:
    """An e-mail and a last name of a published customer, to look up and to search."""
    import json

    from c360.config import load_project
    from c360.serve.store import open_store

    store = open_store(load_project(directory))
    profile = json.loads(store.get_json(SAMPLE_CUSTOMER) or "{}")
    store.close()
    return profile["email"], profile["last_name"]


def _project(customers: int, work: Path) -> Path:
    prepared = os.environ.get("C360_BENCH_SERVE_PROJECT")
    if prepared:
        return Path(prepared)
    from c360.demo import run_demo

    directory = work / f"serve-{customers}"
    run_demo(directory, customers, 9)
    return directory


def run_serve(customers: int, work: Path, repeat: int) -> list[Figure]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    from c360.config import load_project
    from c360.serve.auth import create_key

    directory = _project(customers, work)
    load = os.getloadavg()[0]
    publish_seconds, publish_peak, (profiles, identifiers, cpu) = measure(
        _publish_once, directory, repeat=repeat
    )
    figures = [
        Figure(
            "serve.publish",
            f"{profiles:,} profiles, {identifiers:,} identifiers",
            "seconds",
            publish_seconds,
            "s",
            f"SQLite store; target ≤ 60 s for 1M profiles; load average {load:.1f} at the start",
        ),
        Figure("serve.publish", f"{profiles:,} profiles", "cpu_seconds", cpu, "s", "every thread, last run"),
        Figure("serve.publish", f"{profiles:,} profiles", "peak_rss", publish_peak / 2**20, "MiB"),
    ]
    postgres_url = os.environ.get("C360_BENCH_POSTGRES_URL")
    if postgres_url:
        seconds, peak, _ = measure(_publish_postgres_once, directory, postgres_url, repeat=1)
        figures += [
            Figure("serve.publish_postgres", f"{profiles:,} profiles", "seconds", seconds, "s"),
            Figure("serve.publish_postgres", f"{profiles:,} profiles", "peak_rss", peak / 2**20, "MiB"),
        ]
    key = create_key(load_project(directory), "app")
    email, last_name = _samples(directory)
    (work / "peer_app.py").write_text(PEER_APP)
    typo = last_name[:2] + last_name[3:] if len(last_name) > 4 else last_name
    c360_routes = {
        "by_id": f"/v1/customers/{SAMPLE_CUSTOMER}",
        "by_email": f"/v1/customers?email={email}",
        "search": f"/v1/search?q={last_name[:-1]}&limit=10",
        "search_typo": f"/v1/search?q={typo}&limit=10",
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in (*c360_routes, "peer")}
    servers = (
        ([sys.executable, "-m", "c360", "serve", "--dir", str(directory)], c360_routes),
        (
            [sys.executable, "-m", "uvicorn", "peer_app:app", "--no-access-log", "--log-level", "warning"],
            {"peer": f"/v1/customers/{SAMPLE_CUSTOMER}"},
        ),
    )
    during: dict[str, float] = {}
    for command, routes in servers:
        port = _free_port()
        process = _serve([*command, "--port", str(port)], work)
        try:
            _wait(f"http://127.0.0.1:{port}/docs", process)
            for route, path in routes.items():
                _wrk(f"http://127.0.0.1:{port}{path}", key, 3)  # warm-up: caches, prepared statements
                for _ in range(repeat):
                    results[route].append(_wrk(f"http://127.0.0.1:{port}{path}", key))
            if "by_id" in routes:
                during = _load_during_publish(
                    f"http://127.0.0.1:{port}{routes['by_id']}", key, directory, publish_seconds
                )
        finally:
            process.terminate()
            process.wait(timeout=30)

    def median(name: str, field: str) -> float:
        values = sorted(r[field] for r in results[name])
        return values[len(values) // 2]

    size = f"{customers:,} customers, wrk -t{THREADS} -c{CONNECTIONS} -d{SECONDS}s"
    labels = {
        "by_id": ("serve.lookup_id", "target ≥ 3,000 req/s, p99 ≤ 10 ms"),
        "by_email": ("serve.lookup_email", "target ≥ 3,000 req/s, p99 ≤ 10 ms"),
        "search": (f"serve.search '{last_name[:-1]}'", "target p99 ≤ 50 ms"),
        "search_typo": (f"serve.search '{typo}'", "typo: target p99 ≤ 50 ms"),
        "peer": ("serve.bare_fastapi", ""),
    }
    for name, (label, note) in labels.items():
        failed = sum(r["failed"] + r["socket_errors"] for r in results[name])
        figures += [
            Figure(label, size, "requests_per_s", median(name, "rps"), "req/s", note),
            Figure(label, size, "p50", median(name, "50%"), "ms"),
            Figure(label, size, "p99", median(name, "99%"), "ms", f"{failed:,.0f} failed" if failed else ""),
        ]
    figures.append(
        Figure(
            "serve.lookup_id",
            size,
            "rps_ratio_to_bare",
            median("by_id", "rps") / median("peer", "rps"),
            "x",
            "c360 profile lookup / constant endpoint",
        )
    )
    figures += [
        Figure("serve.lookup_during_publish", size, "requests_per_s", during["rps"], "req/s"),
        Figure("serve.lookup_during_publish", size, "p99", during["99%"], "ms"),
        Figure(
            "serve.lookup_during_publish",
            size,
            "failed",
            during["failed"] + during["socket_errors"],
            "requests",
            f"of {during['requests']:,.0f}; must be 0",
        ),
    ]
    return figures


def _load_during_publish(url: str, key: str, directory: Path, publish_seconds: float) -> dict[str, float]:
    """wrk on ``url`` from before a publish (in a separate process) until after its switch."""
    outcome: dict[str, dict[str, float]] = {}
    seconds = max(SECONDS, int(publish_seconds * 1.5) + 10)
    thread = threading.Thread(target=lambda: outcome.update(load=_wrk(url, key, seconds)))
    thread.start()
    time.sleep(2)
    subprocess.run([sys.executable, "-m", "c360", "publish", "--dir", str(directory)], check=True)
    thread.join()
    return outcome["load"]
