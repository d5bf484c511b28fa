"""The serving commands as a user runs them: publish, keys, serve."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from c360.demo import run_demo
from tests.servers import free_port


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("serve") / "project"
    run_demo(directory, customers=600, seed=4)
    return directory


def c360(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "c360", *args], capture_output=True, text=True)


def test_publish_keys_and_serve(demo: Path) -> None:
    published = c360("publish", "--dir", str(demo))
    assert published.returncode == 0 and "published version 2" in published.stdout
    created = c360("keys", "create", "--role", "admin", "--dir", str(demo))
    assert created.returncode == 0 and "cannot be shown again" in created.stderr
    key = created.stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "c360", "serve", "--dir", str(demo), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key}"}
        found = httpx.get(f"{base}/v1/customers", params={"client_id": 5000}, headers=headers)
        assert found.status_code == 200, found.text
        customer = found.json()["customers"][0]
        assert customer["client_id"] == 5000 or customer["crm_clients"] > 1
        profile = httpx.get(f"{base}/v1/customers/{customer['customer_id']}", headers=headers)
        assert profile.status_code == 200 and profile.json() == customer
        assert httpx.get(f"{base}/v1/customers/{customer['customer_id']}").status_code == 401
        key_id = key.split("_")[1]
        assert c360("keys", "revoke", key_id, "--dir", str(demo)).returncode == 0
        assert c360("keys", "revoke", key_id, "--dir", str(demo)).returncode == 1
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_unknown_role_is_refused(demo: Path) -> None:
    result = c360("keys", "create", "--role", "root", "--dir", str(demo))
    assert result.returncode != 0 and "root" in result.stderr
