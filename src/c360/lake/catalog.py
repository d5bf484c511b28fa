"""Opening the Iceberg catalog of a project.

The catalog is pyiceberg's SqlCatalog: a SQLite file inside the lake by default, so that a lake is
one self-contained directory; a PostgreSQL URL when several machines or writers share it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from c360.errors import LakeError

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

    from c360.config import Project

# The data zones in flow order, then ``ops``: the platform's own records (pipeline runs).
ZONES = ("raw", "stage", "quarantine", "identity", "analytics", "ops")
CATALOG_NAME = "c360"


def catalog_url(lake_dir: Path, configured: str | None) -> str:
    return configured or f"sqlite:///{lake_dir / 'catalog.db'}"


def open_lake_catalog(lake_dir: Path, configured_url: str | None = None) -> SqlCatalog:
    """Open (creating if needed) the catalog and the zone namespaces of the lake at ``lake_dir``."""
    from pyiceberg.catalog.sql import SqlCatalog
    from sqlalchemy.exc import OperationalError

    lake_dir.mkdir(parents=True, exist_ok=True)
    (lake_dir / "warehouse").mkdir(exist_ok=True)
    url = catalog_url(lake_dir, configured_url)
    try:
        catalog = SqlCatalog(CATALOG_NAME, uri=url, warehouse=(lake_dir / "warehouse").as_uri())
        existing = {ns[0] for ns in catalog.list_namespaces()}
        for zone in ZONES:
            if zone not in existing:
                catalog.create_namespace_if_not_exists(zone)
    except OperationalError as exc:
        raise LakeError(
            f"cannot open the lake catalog at {url}: {exc.orig}",
            hint="check lake.catalog_url in c360.toml (is the database server running and reachable?)",
        ) from None
    return catalog


def open_catalog(project: Project) -> SqlCatalog:
    return open_lake_catalog(project.lake_dir, project.settings.lake.catalog_url)


def split_name(name: str) -> tuple[str, str]:
    """'raw.crm' → ('raw', 'crm'), refusing names outside the zones so typos fail early."""
    zone, _, table = name.partition(".")
    if not table or zone not in ZONES or "." in table:
        raise LakeError(
            f"'{name}' is not a lake table name",
            hint=f"use <zone>.<table> with a zone among {', '.join(ZONES)} (e.g. raw.batches)",
        )
    return zone, table
