"""Fixtures shared by several test modules."""

from __future__ import annotations

import os

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
        message = f"PostgreSQL not reachable at {url}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url
