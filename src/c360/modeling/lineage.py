"""Column-level lineage: which source columns a model column is computed from.

sqlglot traces a column through one model's SQL (CTEs, subqueries, joins) to the table columns
it reads; when such a table is itself a model, the trace continues in that model, down to the
tables no model writes (stage, raw, identity tables written by code). Stage columns come from raw
columns through the stage contracts, which the stage layer can plug in with ``stage_source``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage as sqlglot_lineage

from c360.engine.errors import ModelError
from c360.errors import C360Error
from c360.lake.catalog import ZONES, open_catalog
from c360.lake.tables import load_table
from c360.modeling.project import Model, ModelSet, load_models

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

    from c360.config import Project

StageSource = Callable[[str, str], list[str]]


def stage_source(table: str, column: str) -> list[str]:
    """The raw columns behind a stage column; none known until the stage layer supplies its hook."""
    return []


@dataclass
class LineageNode:
    table: str
    column: str
    expression: str | None = None  # how the model computes the column; None for a source table
    sources: list[LineageNode] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)  # from stage_source, for tables no model writes

    @property
    def is_model(self) -> bool:
        return self.expression is not None

    def leaves(self) -> list[LineageNode]:
        """The source-table columns at the bottom of the tree, each once, in tree order."""
        if not self.sources:
            return [self]
        found: list[LineageNode] = []
        for source in self.sources:
            for leaf in source.leaves():
                if (leaf.table, leaf.column) not in {(f.table, f.column) for f in found}:
                    found.append(leaf)
        return found


def lineage(
    project: Project,
    column: str,
    *,
    catalog: SqlCatalog | None = None,
    models: ModelSet | None = None,
    stage_source: StageSource = stage_source,
) -> LineageNode:
    """The lineage tree of ``column``, written zone.table.column (analytics.customer_360.age_band)."""
    table, _, name = column.rpartition(".")
    if table.count(".") != 1 or not name:
        raise C360Error(f"'{column}' is not a column name", hint="write it as zone.table.column")
    models = models if models is not None else load_models(project)
    catalog = catalog if catalog is not None else open_catalog(project)
    return _trace(table, name, models, catalog, stage_source, ())


def _trace(
    table: str,
    column: str,
    models: ModelSet,
    catalog: SqlCatalog,
    stage_source: StageSource,
    walking: tuple[str, ...],
) -> LineageNode:
    if table not in models or table in walking:
        return LineageNode(table, column, origins=stage_source(table, column))
    model = models[table]
    try:
        root = sqlglot_lineage(column, model.text, schema=_schema(model, models, catalog), dialect="duckdb")
    except SqlglotError as exc:
        raise ModelError(
            model.path, None, f"cannot trace column {column}: {exc}", hint="check the column name"
        ) from None
    node = LineageNode(table, column, expression=_expression(root.expression))
    seen: set[tuple[str, str]] = set()
    for step in root.walk():
        source = step.expression
        if step.downstream or not isinstance(source, exp.Table) or source.db not in ZONES:
            continue
        key = (f"{source.db}.{source.name}", step.name.rpartition(".")[2])
        if key not in seen:
            seen.add(key)
            node.sources.append(_trace(*key, models, catalog, stage_source, (*walking, table)))
    return node


def _expression(projection: exp.Expression) -> str:
    inner = projection.this if isinstance(projection, exp.Alias) else projection
    return inner.sql(dialect="duckdb", comments=False)


def _schema(model: Model, models: ModelSet, catalog: SqlCatalog) -> dict[str, dict[str, dict[str, str]]]:
    """Columns of the model's inputs, so that sqlglot can expand ``*`` and place bare columns.

    From the lake when the table exists; for a model not built yet, from its SELECT list.
    """
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for name in model.inputs:
        zone, short = name.split(".")
        table = load_table(catalog, name)
        if table is not None:
            columns = [f.name for f in table.schema().fields]
        elif name in models:
            columns = _selected_columns(models[name])
        else:
            continue
        if columns:
            schema.setdefault(zone, {})[short] = dict.fromkeys(columns, "UNKNOWN")
    return schema


def _selected_columns(model: Model) -> list[str]:
    import sqlglot

    query = sqlglot.parse_one(model.text, read="duckdb")
    if not isinstance(query, exp.Query) or any(isinstance(e, exp.Star) for e in query.selects):
        return []
    return list(query.named_selects)


def render_lineage(node: LineageNode) -> str:
    """The tree as indented text, one column per line, model expressions beside their column."""
    lines: list[str] = []

    def draw(current: LineageNode, prefix: str, branch: str, child_prefix: str) -> None:
        label = f"{current.table}.{current.column}"
        if current.is_model:
            label += f"  = {current.expression}"
        elif current.origins:
            label += f"  ← {', '.join(current.origins)}"
        lines.append(f"{prefix}{branch}{label}")
        for i, source in enumerate(current.sources):
            last = i == len(current.sources) - 1
            draw(source, prefix + child_prefix, "└── " if last else "├── ", "    " if last else "│   ")

    draw(node, "", "", "")
    return "\n".join(lines)
