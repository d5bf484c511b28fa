"""``c360 catalog <zone.table>``: what a table is, where it comes from, and its versions.

Types come from the Iceberg schema (what is really stored); descriptions, grain and partition
from the model header (what the author declared); upstream tables from the model's SQL; the
snapshots are the versions ``c360 sql --as-of`` can read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from c360.errors import LakeError
from c360.lake.catalog import open_catalog, split_name
from c360.lake.tables import load_table
from c360.lake.time_travel import SnapshotInfo, snapshots
from c360.modeling.project import ModelSet, load_models

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

    from c360.config import Project


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str | None  # None while a model's table has not been built yet
    description: str
    pii: bool


@dataclass
class TableDescription:
    name: str
    description: str
    model_path: Path | None  # None for tables no model writes
    grain: tuple[str, ...]
    partition: str | None
    columns: list[ColumnInfo]
    upstream: list[str]
    downstream: list[str]
    row_count: int | None  # None while not built
    snapshots: list[SnapshotInfo] = field(default_factory=list)

    @property
    def built(self) -> bool:
        return self.row_count is not None


def describe(
    project: Project, name: str, *, catalog: SqlCatalog | None = None, models: ModelSet | None = None
) -> TableDescription:
    split_name(name)
    models = models if models is not None else load_models(project)
    catalog = catalog if catalog is not None else open_catalog(project)
    model = models.get(name)
    table = load_table(catalog, name)
    if table is None and model is None:
        raise LakeError(f"no table or model {name}", hint="`c360 catalog` lists the tables and models")
    docs = model.header.columns if model else {}
    if table is not None:
        columns = [
            ColumnInfo(
                f.name,
                str(f.field_type),
                docs[f.name].description if f.name in docs else f.doc or "",
                docs[f.name].pii if f.name in docs else False,
            )
            for f in table.schema().fields
        ]
        row_count: int | None = table.scan().count()
        history = snapshots(table)
    else:
        columns = [ColumnInfo(d.name, None, d.description, d.pii) for d in docs.values()]
        row_count, history = None, []
    return TableDescription(
        name=name,
        description=model.header.description
        if model
        else (table.properties.get("comment", "") if table else ""),
        model_path=model.path if model else None,
        grain=model.header.grain if model else (),
        partition=model.header.partition if model else None,
        columns=columns,
        upstream=sorted(model.depends_on) if model else [],
        downstream=models.downstream_of(name),
        row_count=row_count,
        snapshots=history,
    )


def render_description(description: TableDescription, snapshots_shown: int = 10) -> str:
    """Plain text for a terminal or a test; the CLI may draw the same fields with Rich."""
    d = description
    lines = [d.name, f"  {d.description}" if d.description else "  (no description)"]
    if d.model_path:
        lines.append(f"  model: {d.model_path}")
    lines.append(f"  grain: {', '.join(d.grain) or '-'}    partition: {d.partition or '-'}")
    lines.append(f"  rows: {d.row_count if d.built else 'not built yet'}")
    lines.append(f"  upstream: {', '.join(d.upstream) or '-'}")
    lines.append(f"  downstream: {', '.join(d.downstream) or '-'}")
    lines.append("  columns:")
    width = max((len(c.name) for c in d.columns), default=0)
    type_width = max((len(c.type or "?") for c in d.columns), default=0)
    for c in d.columns:
        tag = " [pii]" if c.pii else ""
        lines.append(f"    {c.name:<{width}}  {c.type or '?':<{type_width}}  {c.description}{tag}".rstrip())
    if d.snapshots:
        lines.append(f"  snapshots (latest {min(snapshots_shown, len(d.snapshots))} of {len(d.snapshots)}):")
        for s in d.snapshots[-snapshots_shown:]:
            build = f"  build {s.build_id}" if s.build_id else ""
            rows = f"  {s.rows} rows" if s.rows is not None else ""
            lines.append(
                f"    {s.snapshot_id}  {s.committed_at:%Y-%m-%d %H:%M:%S}Z  {s.operation}{rows}{build}"
            )
    return "\n".join(lines)
