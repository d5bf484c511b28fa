"""Landing one batch in the raw zone.

Order of a landing, chosen so that a crash at any point is repaired by :mod:`c360.raw.recovery`:
1. the bytes go to ``<lake>/raw/<source>/<batch_id>/`` (and parsed rows beside them);
2. one Iceberg commit adds the rows to ``raw.<source>``, carrying the manifest row as a snapshot
   property;
3. one commit appends the manifest row to ``raw.batches``.
A crash before 2 leaves only an orphan directory (deleted on the next run); a crash between 2 and
3 leaves a commit whose manifest row the next run copies into ``raw.batches``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from c360.lake.tables import commit_parquet, ensure_table
from c360.raw.manifest import BATCH_PROPERTY, BatchRecord, Manifest
from c360.sources.base import RAW_PREFIX, FileConnector, RowBatch

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def schema_fingerprint(schema: pa.Schema) -> str:
    text = ",".join(f"{field.name}:{field.type}" for field in schema if not field.name.startswith(RAW_PREFIX))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def new_batch_id(received_at: datetime, sha256: str) -> str:
    return f"{received_at:%Y%m%dT%H%M%S%f}-{sha256[:12]}"


def unified_schema(files: list[Path]) -> pa.Schema:
    return pa.unify_schemas([pq.read_schema(path) for path in files], promote_options="permissive")


class Lander:
    """Lands batches of any source into the raw zone of one lake."""

    def __init__(self, catalog: SqlCatalog, lake_dir: Path, manifest: Manifest) -> None:
        self.catalog = catalog
        self.batches_dir = lake_dir / "raw"
        self.manifest = manifest

    def land_file(self, connector: FileConnector, path: Path) -> BatchRecord | None:
        """Land one file; ``None`` when these exact bytes have landed before."""
        sha256 = file_sha256(path)
        if self.manifest.has_landed(connector.name, sha256):
            return None
        received_at = datetime.now(UTC)
        batch_id = new_batch_id(received_at, sha256)
        batch_dir = self._new_batch_dir(connector.name, batch_id)
        try:
            landed = batch_dir / path.name
            shutil.copyfile(path, landed)
            if file_sha256(landed) != sha256:
                raise OSError(f"{path} changed while it was being landed; run `c360 ingest` again")
            parsed = connector.parse(landed, batch_dir, batch_id)
            schema = unified_schema(parsed.files) if parsed.files else None
            record = BatchRecord(
                source=connector.name,
                batch_id=batch_id,
                kind="file",
                name=path.name,
                received_at=received_at,
                bytes=landed.stat().st_size,
                sha256=sha256,
                rows=parsed.rows,
                rejected=parsed.rejected,
                schema_fingerprint=schema_fingerprint(schema) if schema is not None else "",
                status="landed",
                location=str(landed),
                state="",
                description=f"file {path}",
            )
        except BaseException:
            shutil.rmtree(batch_dir, ignore_errors=True)
            raise
        self._commit(record, parsed.files, schema)
        return record

    def land_rows(self, source: str, batch: RowBatch) -> BatchRecord | None:
        """Land rows pulled from a live system as Parquet with their own types.

        The checksum is of the rows as received (their Arrow IPC bytes), so the same rows
        delivered twice are recognized although each landing gets its own batch id.
        """
        received_at = datetime.now(UTC)
        batch_id = new_batch_id(received_at, uuid.uuid4().hex)
        batch_dir = self._new_batch_dir(source, batch_id)
        try:
            data = batch_dir / "rows.parquet"
            rows, schema, sha256 = _write_rows(batch.data, data, batch_id)
            if rows == 0 or self.manifest.has_landed(source, sha256):
                shutil.rmtree(batch_dir)
                return None
            record = BatchRecord(
                source=source,
                batch_id=batch_id,
                kind="rows",
                name="rows.parquet",
                received_at=received_at,
                bytes=data.stat().st_size,
                sha256=sha256,
                rows=rows,
                rejected=0,
                schema_fingerprint=schema_fingerprint(schema),
                status="landed",
                location=str(data),
                state=json.dumps(batch.state, sort_keys=True, default=str),
                description=batch.description,
            )
        except BaseException:
            shutil.rmtree(batch_dir, ignore_errors=True)
            raise
        self._commit(record, [data], schema)
        return record

    def _new_batch_dir(self, source: str, batch_id: str) -> Path:
        batch_dir = self.batches_dir / source / batch_id
        batch_dir.mkdir(parents=True)
        return batch_dir

    def _commit(self, record: BatchRecord, files: list[Path], schema: pa.Schema | None) -> None:
        """``schema``: the files' unified schema (None when there are no files)."""
        # No clean-up on failure from here on: the data commit may have happened, and only
        # recovery, reading the table's snapshots, can tell whether the batch directory is orphan.
        if files and schema is not None:
            table = ensure_table(self.catalog, f"raw.{record.source}", schema)
            commit_parquet(table, files, schema, {BATCH_PROPERTY: record.to_json()})
        self.manifest.add([record])


def _write_rows(
    data: pa.Table | pa.RecordBatchReader, path: Path, batch_id: str
) -> tuple[int, pa.Schema, str]:
    """Stream rows into one Parquet file, numbering them, without holding them all in memory.

    Returns the row count, the schema written and the checksum of the rows as received.
    """
    batches = data.to_batches() if isinstance(data, pa.Table) else data
    # A column null in every row has Arrow's null type, which Iceberg cannot store: land it as text.
    fields = [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in data.schema]
    schema = pa.schema(
        [
            pa.field(f"{RAW_PREFIX}batch_id", pa.string()),
            pa.field(f"{RAW_PREFIX}record", pa.int64()),
            *fields,
        ]
    )
    checksum = hashlib.sha256()
    rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in batches:
            checksum.update(batch.serialize())
            numbers = pa.array(np.arange(rows + 1, rows + batch.num_rows + 1, dtype=np.int64))
            columns = [
                column.cast(field.type) if column.type != field.type else column
                for column, field in zip(batch.columns, fields, strict=True)
            ]
            ids = pa.repeat(pa.scalar(batch_id, pa.string()), batch.num_rows)
            writer.write_batch(pa.RecordBatch.from_arrays([ids, numbers, *columns], schema=schema))
            rows += batch.num_rows
    return rows, schema, checksum.hexdigest()
