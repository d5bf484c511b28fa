"""The profile API under load: requests/s and latency percentiles, beside a bare FastAPI endpoint.

Both servers run the same way (uvicorn, one worker, access log off) on loopback and are loaded
with the same wrk settings, in the same run; wrk comes from Debian (`apt-get install wrk`). The
peer is a FastAPI app whose only route returns a constant: the ratio says what c360's lookup,
authentication, masking, metrics and audit cost on top of the framework.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from benchmarks.common import Figure

SECONDS = 10
CONNECTIONS = 32
THREADS = 2
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


def _wait(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


def _wrk(url: str, key: str | None) -> dict[str, float]:
    header = ["-H", f"Authorization: Bearer {key}"] if key else []
    result = subprocess.run(
        ["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{SECONDS}s", "--latency", *header, url],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))}
    for label in ("50%", "99%"):
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", result.stdout).groups()
        figures[label] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return figures


def _serve(command: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _sample_identifiers(path: Path, version: int) -> tuple[str, str]:
    """An e-mail of the identifier map and a customer's last name, to look up and search."""
    import json
    import sqlite3

    con = sqlite3.connect(path)
    try:
        email = con.execute(
            f"SELECT value FROM identifiers_v{version} WHERE kind = 'email' LIMIT 1"
        ).fetchone()[0]
        profile = json.loads(con.execute(f"SELECT data FROM profiles_v{version} LIMIT 1").fetchone()[0])
    finally:
        con.close()
    return email, profile["last_name"]


def run_serve(customers: int, work: Path, repeat: int) -> list[Figure]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    from c360.config import load_project
    from c360.demo import run_demo
    from c360.serve.auth import create_key
    from c360.serve.store import publish, store_path

    directory = work / f"serve-{customers}"
    run_demo(directory, customers, 9)
    project = load_project(directory)
    published = publish(project)
    key = create_key(project, "app")
    email, last_name = _sample_identifiers(store_path(project), published.version)
    (work / "peer_app.py").write_text(PEER_APP)
    c360_routes = {
        "by_id": "/v1/customers/5001",
        "by_email": f"/v1/customers?email={email}",
        "search": f"/v1/search?q={last_name[:-1]}&limit=10",
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in (*c360_routes, "peer")}
    servers = (
        ([sys.executable, "-m", "c360", "serve", "--dir", str(directory)], c360_routes),
        (
            [sys.executable, "-m", "uvicorn", "peer_app:app", "--no-access-log", "--log-level", "warning"],
            {"peer": "/v1/customers/5001"},
        ),
    )
    for command, routes in servers:
        port = _free_port()
        process = _serve([*command, "--port", str(port)], work)
        try:
            _wait(f"http://127.0.0.1:{port}/docs")
            for route, path in routes.items():
                for _ in range(repeat):
                    results[route].append(_wrk(f"http://127.0.0.1:{port}{path}", key))
        finally:
            process.terminate()
            process.wait(timeout=30)

    def median(name: str, field: str) -> float:
        values = sorted(r[field] for r in results[name])
        return values[len(values) // 2]

    size = f"{customers:,} customers, wrk -t{THREADS} -c{CONNECTIONS} -d{SECONDS}s"
    figures = [
        Figure(
            "serve.publish",
            f"{published.customers:,} profiles, {published.identifiers:,} identifiers",
            "seconds",
            published.seconds,
            "s",
            "target ≤ 60 s for 1M profiles",
        )
    ]
    labels = {"by_id": "serve.lookup_id", "by_email": "serve.lookup_email", "search": "serve.search"}
    for name, label in (*labels.items(), ("peer", "serve.bare_fastapi")):
        figures += [
            Figure(label, size, "requests_per_s", median(name, "rps"), "req/s"),
            Figure(label, size, "p50", median(name, "50%"), "ms"),
            Figure(label, size, "p99", median(name, "99%"), "ms"),
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
    return figures
