"""Repairing the raw zone after a crash (SIGKILL, power loss) part way through a landing.

See :mod:`c360.raw.landing` for the order of a landing that this relies on.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from c360.raw.manifest import BATCH_PROPERTY, MANIFEST_TABLE, BatchRecord, Manifest

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog


def recover(catalog: SqlCatalog, lake_dir: Path, manifest: Manifest) -> tuple[int, int]:
    """Complete manifests of committed batches and delete batches that never committed.

    Returns (manifest rows restored, orphan batch directories removed).
    """
    restored: list[BatchRecord] = []
    for identifier in catalog.list_tables("raw"):
        name = f"raw.{identifier[-1]}"
        if name == MANIFEST_TABLE:
            continue
        table = catalog.load_table(name)
        for snapshot in table.metadata.snapshots:
            text = snapshot.summary[BATCH_PROPERTY] if snapshot.summary else None
            if text:
                record = BatchRecord.from_json(text)
                if not manifest.has_batch(record.batch_id):
                    restored.append(record)
    manifest.add(restored)

    removed = 0
    batches_dir = lake_dir / "raw"
    if batches_dir.is_dir():
        for source_dir in batches_dir.iterdir():
            for batch_dir in source_dir.iterdir() if source_dir.is_dir() else []:
                if not manifest.has_batch(batch_dir.name):
                    shutil.rmtree(batch_dir, ignore_errors=True)
                    removed += 1
    return len(restored), removed
