"""The SQL model layer: ``.sql`` files that build the identity and analytics tables.

One facade over small parts, in the order a model meets them:

- ``load_models`` finds the models (built-in ``c360/models/`` plus the project's ``models/``),
  reads their headers and the tables their SQL reads; ``ModelSet.order`` sorts them.
- ``build`` runs them on DuckDB, tests each result, and commits it as an Iceberg table;
  ``build_locked`` does the same for a caller (the pipeline) already holding the writer lock.
- ``lineage`` traces a column down to the stage columns it comes from.
- ``describe`` says what a table is and lists its versions; ``read_as_of`` and
  ``register_table_as_of`` read an older version.
"""

from c360.engine.errors import ModelError
from c360.lake.time_travel import SnapshotInfo, read_as_of, register_table_as_of, snapshots
from c360.modeling.build import BuildReporter, BuildResult, ModelRun, build, build_locked
from c360.modeling.catalog import TableDescription, describe, render_description
from c360.modeling.datatests import DataTestError
from c360.modeling.lineage import LineageNode, lineage, render_lineage, stage_source
from c360.modeling.project import Model, ModelSet, load_models

__all__ = [
    "BuildReporter",
    "BuildResult",
    "DataTestError",
    "LineageNode",
    "Model",
    "ModelError",
    "ModelRun",
    "ModelSet",
    "SnapshotInfo",
    "TableDescription",
    "build",
    "build_locked",
    "describe",
    "lineage",
    "load_models",
    "read_as_of",
    "register_table_as_of",
    "render_description",
    "render_lineage",
    "snapshots",
    "stage_source",
]
