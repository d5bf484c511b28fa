"""The lake's catalog on the local PostgreSQL instead of the embedded SQLite file."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from c360.config import load_project
from c360.lake.catalog import CATALOG_NAME, ZONES, open_catalog
from c360.lake.query import run_query
from c360.raw.ingest import ingest
from tests.projects import SAMPLES, write_project


def test_lake_on_a_postgresql_catalog(tmp_path: Path, postgres_url: str) -> None:
    database = f"c360_catalog_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as con:
        con.execute(text(f'CREATE DATABASE "{database}"'))
    catalog_url = (
        postgres_url.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{database}"
    )
    try:
        config = f"""
[lake]
catalog_url = "{catalog_url}"

[sources.accounts]
kind = "delimited"
path = "{SAMPLES}/account/*.csv"
header = false
columns = ["account_id", "branch_id", "frequency", "date_of_creation"]
"""
        project = load_project(write_project(tmp_path, config))
        assert ingest(project).sources[0].rows == 1_999
        catalog = open_catalog(project)
        assert {ns[0] for ns in catalog.list_namespaces()} >= set(ZONES)
        assert run_query(catalog, "SELECT count(*) AS n FROM raw.accounts").to_pylist() == [{"n": 1_999}]
        assert not (project.lake_dir / "catalog.db").exists()
        engine = create_engine(catalog_url)
        with engine.connect() as con:
            tables = con.execute(
                text("SELECT table_namespace, table_name FROM iceberg_tables WHERE catalog_name = :c"),
                {"c": CATALOG_NAME},
            ).fetchall()
        engine.dispose()
        assert sorted(tables) == [("raw", "accounts"), ("raw", "batches")]
        assert ingest(load_project(tmp_path)).sources[0].skipped == 1
    finally:
        with admin.connect() as con:
            con.execute(text(f'DROP DATABASE "{database}" WITH (FORCE)'))
        admin.dispose()
