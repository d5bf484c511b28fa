"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the local PostgreSQL test database (``C360_TEST_POSTGRES_URL`` overrides it).

    Unreachable server: skip on a laptop, but fail when ``CI=true`` — a CI run that silently
    skipped every database test would pass while testing nothing.
    """
    import psycopg

    url = os.environ.get("C360_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        _service_missing(f"PostgreSQL not reachable at {url}: {exc}")
    return url


def _service_missing(message: str) -> None:
    """Skip on a laptop, fail under ``CI=true`` (a CI run that skipped would test nothing)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _chromium() -> str | None:
    """Debian's Chromium, installed from Debian's packages when missing and we may (root with apt).

    The browser cannot come from PyPI (Playwright's own download is not a package registry), so
    the test suite installs the Debian package itself: a clean machine then needs nothing by hand.
    """
    path = shutil.which("chromium")
    if path or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return path
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        subprocess.run(install, env=env, capture_output=True)
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright (one per test session)."""
    executable = _chromium()
    if executable is None:
        _service_missing("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page (1280×900) closed after the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis (``C360_TEST_REDIS_URL`` overrides it)."""
    import redis

    url = os.environ.get("C360_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        _service_missing(f"Redis not reachable at {url}: {exc}")
    return url


@pytest.fixture(scope="session")
def nats_url() -> str:
    """The local NATS server with JetStream (``C360_TEST_NATS_URL`` overrides it)."""
    url = os.environ.get("C360_TEST_NATS_URL", "nats://127.0.0.1:4222")
    host, _, port = url.removeprefix("nats://").partition(":")
    try:
        socket.create_connection((host, int(port or 4222)), timeout=3).close()
    except OSError as exc:
        _service_missing(f"NATS not reachable at {url}: {exc}")
    return url
