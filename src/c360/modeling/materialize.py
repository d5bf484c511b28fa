"""Writing a model's result to its Iceberg table: one catalog commit, whatever changed.

The result never passes through Python: DuckDB writes it, cast to types Iceberg stores and sorted,
straight into Parquet files in the table's directory (``write_result``), the data tests read those
files, and ``materialize`` commits them with ``add_files``, deleting in the same transaction the
rows they replace:

- A model without ``partition`` is replaced whole.
- A model with ``partition: <column>`` keeps history: its table has an identity partition spec on
  that column, and a build replaces only the partitions present in the new result, so
  yesterday's snapshot date survives today's build.
- A model with ``incremental: <column> from ...`` is partitioned the same way, but derived wholly
  from its inputs: a full build replaces the whole table, an incremental one the days given
  (all of them, so a day whose rows all moved to another day is emptied).
- Schema changes ride in the same transaction: new columns are added by name, types widened
  (int → long, float → double); a column the model no longer returns is dropped from a
  replaced-whole table but kept in a history table, whose older partitions still hold it.

Readers therefore see the previous table or the new one, never a table between the two.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, In, IsNull, Or

from c360.engine.duckdb import WrittenFile, copy_to_parquet, result_schema
from c360.engine.errors import ModelError
from c360.lake.catalog import split_name
from c360.lake.tables import load_table

if TYPE_CHECKING:
    import duckdb
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Transaction

    from c360.modeling.project import Model

MODEL_PROPERTY = "c360.model"
# pyiceberg warns when an overwrite's delete finds nothing, which is the normal case for a new
# snapshot date; the warning would only teach users to ignore warnings.
NOTHING_DELETED = "Delete operation did not match any records"
RESULT_ALIAS = "__c360_model"


@dataclass(frozen=True)
class Materialized:
    snapshot_id: int | None
    partitions: tuple[str, ...]  # partition values replaced; empty when the table was replaced whole
    schema_changes: tuple[str, ...]


@dataclass(frozen=True)
class Result:
    """A model's result as written: its Parquet files, their schema, and its partition values."""

    schema: pa.Schema
    duck_types: tuple[str, ...]  # of the schema's columns, to read an empty result back typed
    files: tuple[WrittenFile, ...]
    values: tuple[object, ...] = ()  # each file's partition value, when partitioned

    @property
    def rows(self) -> int:
        return sum(file.rows for file in self.files)

    @property
    def partitions(self) -> tuple[object, ...]:
        """The distinct values of the partition column (empty when unpartitioned)."""
        return tuple(dict.fromkeys(self.values))

    def only(self, values: tuple[object, ...]) -> Result:
        """This result restricted to the partitions ``values``; the other files are deleted."""
        kept = [(file, value) for file, value in zip(self.files, self.values, strict=True) if value in values]
        for file, value in zip(self.files, self.values, strict=True):
            if value not in values:
                file.path.unlink(missing_ok=True)
        return Result(
            self.schema, self.duck_types, tuple(file for file, _ in kept), tuple(value for _, value in kept)
        )

    def relation(self) -> str:
        """A DuckDB table expression reading the result back (from its files)."""
        if not self.files:
            columns = ", ".join(
                f"CAST(NULL AS {duck_type}) AS {_quote(name)}"
                for name, duck_type in zip(self.schema.names, self.duck_types, strict=True)
            )
            return f"(SELECT {columns} WHERE false)"
        return f"read_parquet([{_listed(self.files)}])"


def table_location(catalog: SqlCatalog, name: str) -> Path:
    """The local directory of the table ``name``: where it is, or where the catalog will put it."""
    table = load_table(catalog, name)
    if table is not None:
        return Path(table.location().removeprefix("file://"))
    zone, short = split_name(name)
    warehouse = str(catalog.properties["warehouse"]).removeprefix("file://")
    return Path(warehouse) / f"{zone}.db" / short


def result_storable_schema(con: duckdb.DuckDBPyConnection, model: Model) -> pa.Schema:
    """The schema ``write_result`` will write for ``model``, known before any row is computed."""
    return storable(result_schema(con, model.text, model.path), model.path)


def write_result(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    schema: pa.Schema,
    directory: Path,
    days: tuple[date, ...] | None = None,
) -> Result:
    """Run ``model`` on ``con`` into Parquet files under ``directory``, in ``schema``'s types, sorted.

    With ``days``, only the rows whose partition value is one of them (an incremental build).
    """
    partition = model.header.partition
    duck_types = tuple(str(duck_type) for duck_type in con.from_arrow(schema.empty_table()).types)
    columns = ", ".join(
        f"CAST({_quote(name)} AS {duck_type}) AS {_quote(name)}"
        for name, duck_type in zip(schema.names, duck_types, strict=True)
    )
    text = model.text.rstrip().rstrip(";")
    query = f"SELECT {columns} FROM ({text}\n) AS {RESULT_ALIAS}"
    if days is not None and partition is not None:
        listed = ", ".join(f"DATE '{day.isoformat()}'" for day in days) or "NULL"
        query += f" WHERE {_quote(partition)} IN ({listed})"
    keys = canonical_keys(schema, model.header.grain) if model.header.sorted else []
    if keys:
        query += " ORDER BY " + ", ".join(f"{_quote(key)} ASC NULLS LAST" for key in keys)
    written = copy_to_parquet(
        con, query, directory, text=model.text, path=model.path, partition=partition, ordered=bool(keys)
    )
    files = tuple(file for file in written if file.rows > 0)
    for file in written:
        if file.rows == 0:
            file.path.unlink(missing_ok=True)  # an empty file would only cost readers an open
    if partition is None or not files:
        return Result(schema, duck_types, files)
    # each file holds one value; read it back typed (the directory name is text)
    found = dict(
        con.execute(
            f"SELECT filename, any_value({_quote(partition)}) "
            f"FROM read_parquet([{_listed(files)}], filename = true) GROUP BY filename"
        ).fetchall()
    )
    return Result(schema, duck_types, files, tuple(found[str(file.path)] for file in files))


def storable(schema: pa.Schema, path: Path) -> pa.Schema:
    """``schema`` with every column in a type Iceberg stores, all nullable (see DESIGN.md)."""
    fields = [pa.field(f.name, _storable_type(f.type, f.name, path), nullable=True) for f in schema]
    names = [f.name for f in fields]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ModelError(
            path, None, f"the SELECT returns the column name {repeated[0]} twice", hint="alias one"
        )
    return pa.schema(fields)


def _storable_type(data_type: pa.DataType, column: str, path: Path) -> pa.DataType:
    t = data_type
    if pa.types.is_dictionary(t):
        return _storable_type(t.value_type, column, path)
    if t in (pa.int8(), pa.int16(), pa.uint8(), pa.uint16()):
        return pa.int32()
    if t in (pa.uint32(), pa.uint64()):
        return pa.int64()
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_timestamp(t) and t.unit != "us":
        return pa.timestamp("us", t.tz)
    if pa.types.is_time(t):
        return pa.time64("us")
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return pa.list_(pa.field("element", _storable_type(t.value_type, column, path), nullable=True))
    if pa.types.is_map(t):
        return pa.map_(_storable_type(t.key_type, column, path), _storable_type(t.item_type, column, path))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _storable_type(f.type, column, path), nullable=True) for f in t])
    if pa.types.is_null(t) or pa.types.is_duration(t) or pa.types.is_interval(t):
        raise ModelError(
            path,
            None,
            f"column {column} has type {t}, which Iceberg cannot store",
            hint="CAST it in the SQL (a bare NULL needs CAST(NULL AS <type>); an interval a number of days)",
        )
    return t


def canonical_keys(schema: pa.Schema, grain: tuple[str, ...]) -> list[str]:
    """The sort keys of a result: the grain, then every other sortable column.

    DuckDB returns rows in whatever order its threads finish; sorting makes a rebuild over
    unchanged inputs write the same rows in the same order, so the tables compare equal.
    """
    nested = (pa.types.is_list, pa.types.is_large_list, pa.types.is_struct, pa.types.is_map)
    sortable = [f.name for f in schema if not any(check(f.type) for check in nested)]
    return [*grain, *(name for name in sortable if name not in grain)]


def materialize(
    catalog: SqlCatalog,
    model: Model,
    result: Result,
    properties: dict[str, str],
    days: tuple[date, ...] | None = None,
    *,
    location: Path,
    state: dict[str, str] | None = None,
) -> Materialized:
    """Commit ``result`` (already tested) as the table of ``model``, at ``location`` if new.

    ``days``: the partitions an incremental build replaces, even where it found no row;
    ``state``: table properties to set in the same commit (what an incremental build saw).
    """
    partition = model.header.partition
    incremental = model.header.incremental is not None
    table = load_table(catalog, model.name)
    if table is None:
        return _create(catalog, model, result, properties, location, state or {})  # downstream reads it
    if table.properties.get(MODEL_PROPERTY) != model.name:
        raise ModelError(
            model.path,
            model.header.line_of.get("model"),
            f"{model.name} exists in the lake but was not written by a model; refusing to replace it",
            hint="give the model another name",
        )
    if days is not None:
        replaced, overwrite = list(days), _overwrite_filter(partition, list(days))
    elif partition is not None and not incremental:
        if not result.files:
            return Materialized(None, (), ())  # no partition to replace: the history stays as it is
        replaced, overwrite = list(result.partitions), _overwrite_filter(partition, list(result.partitions))
    else:
        replaced, overwrite = [], AlwaysTrue()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=NOTHING_DELETED)
        with table.transaction() as tx:
            # The spec changes around the schema change: an old partition column may be dropped
            # only once no spec uses it, and a new one can be partitioned on only once it exists.
            respec = _spec_columns(tx) != ([partition] if partition else [])
            if respec:
                _clear_spec(tx)
            changes = _evolve_schema(
                tx, result.schema, model, replace_whole=partition is None or (incremental and days is None)
            )
            if respec and partition is not None:
                with tx.update_spec() as spec:
                    spec.add_identity(partition)
                changes.append(f"partitioned by {partition}")
            elif respec:
                changes.append("no longer partitioned")
            if tx.table_metadata.current_snapshot() is not None and (days is None or days):
                tx.delete(overwrite, snapshot_properties=properties)
            if result.files:
                tx.add_files(
                    [str(file.path) for file in result.files],
                    snapshot_properties=properties,
                    check_duplicate_files=False,
                )
            changed = {
                key: value
                for key, value in {"comment": model.header.description, **(state or {})}.items()
                if table.properties.get(key) != value
            }
            if changed:
                tx.set_properties(**changed)
    snapshot = table.refresh().current_snapshot()
    return Materialized(snapshot.snapshot_id if snapshot else None, _shown(replaced), tuple(changes))


def _create(
    catalog: SqlCatalog,
    model: Model,
    result: Result,
    properties: dict[str, str],
    location: Path,
    state: dict[str, str],
) -> Materialized:
    tx = catalog.create_table_transaction(
        split_name(model.name),
        schema=result.schema,
        location=str(location),
        properties={MODEL_PROPERTY: model.name, "comment": model.header.description, **state},
    )
    if model.header.partition is not None:
        with tx.update_spec() as spec:
            spec.add_identity(model.header.partition)
    if result.files:
        tx.add_files(
            [str(file.path) for file in result.files],
            snapshot_properties=properties,
            check_duplicate_files=False,
        )
    tx.commit_transaction()
    table = load_table(catalog, model.name)
    snapshot = table.current_snapshot() if table is not None else None
    return Materialized(
        snapshot.snapshot_id if snapshot else None, _shown(list(result.partitions)), ("created",)
    )


def _listed(files: tuple[WrittenFile, ...]) -> str:
    return ", ".join("'" + str(file.path).replace("'", "''") + "'" for file in files)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _shown(values: list) -> tuple[str, ...]:
    return tuple(sorted(_text(value) for value in values))


def _text(value: object) -> str:
    if value is None:
        return "NULL"
    return value.isoformat() if isinstance(value, date | time) else str(value)


def _overwrite_filter(partition: str | None, values: list) -> BooleanExpression:
    if partition is None:
        return AlwaysTrue()
    present = [v for v in values if v is not None]
    condition: BooleanExpression = In(partition, present) if present else IsNull(partition)
    if present and None in values:
        condition = Or(condition, IsNull(partition))
    return condition


def _widens(old: pa.DataType, new: pa.DataType) -> bool:
    """Whether values of type ``new`` fit a column of type ``old`` after at most an Iceberg widening."""
    if old == new:
        return True
    families = (
        (pa.types.is_string, pa.types.is_large_string),
        (pa.types.is_binary, pa.types.is_large_binary),
    )
    for family in families:
        if any(f(old) for f in family) and any(f(new) for f in family):
            return True
    if pa.types.is_integer(old) and pa.types.is_integer(new):
        return True
    if pa.types.is_floating(old) and pa.types.is_floating(new):
        return True
    if pa.types.is_decimal(old) and pa.types.is_decimal(new):
        return old.scale == new.scale
    if pa.types.is_timestamp(old) and pa.types.is_timestamp(new):
        return (old.tz is None) == (new.tz is None)
    if (pa.types.is_list(old) or pa.types.is_large_list(old)) and pa.types.is_list(new):
        return _widens(old.value_type, new.value_type)
    if pa.types.is_map(old) and pa.types.is_map(new):
        return _widens(old.key_type, new.key_type) and _widens(old.item_type, new.item_type)
    if pa.types.is_struct(old) and pa.types.is_struct(new):
        olds = {f.name: f.type for f in old}
        return all(f.name not in olds or _widens(olds[f.name], f.type) for f in new)
    return False


def _evolve_schema(tx: Transaction, schema: pa.Schema, model: Model, *, replace_whole: bool) -> list[str]:
    """Bring the table's schema to the result's, in ``tx``; the changes made, for the build log."""
    current = tx.table_metadata.schema()
    old_types = {field.name: field.type for field in current.as_arrow()}
    retyped = [f.name for f in schema if f.name in old_types and not _widens(old_types[f.name], f.type)]
    if retyped and not replace_whole:
        name = retyped[0]
        raise ModelError(
            model.path,
            None,
            f"column {name} changed type from {current.find_field(name).field_type} "
            f"to {schema.field(name).type}, "
            "and the table keeps older partitions in the old type",
            hint="CAST it back in the SQL, or return it under a new column name",
        )
    dropped = [name for name in old_types if name not in schema.names] if replace_whole else []
    if retyped or dropped:
        # A replaced-whole table holds no old rows, so a column of a new type is a new column.
        with tx.update_schema() as update:
            for name in [*retyped, *dropped]:
                update.delete_column(name)
    with tx.update_schema() as update:
        update.union_by_name(schema)
    after = tx.table_metadata.schema()
    new_types = {field.name: field.field_type for field in after.fields}
    before = {field.name: field.field_type for field in current.fields}
    changes = [f"dropped {name}" for name in dropped]
    changes += [f"{name} {before[name]} → {new_types[name]}" for name in retyped]
    for name, field_type in new_types.items():
        if name not in before:
            changes.append(f"added {name} {field_type}")
        elif name not in retyped and before[name] != field_type:
            changes.append(f"widened {name} {before[name]} → {field_type}")
    _reorder(tx, schema.names, [field.name for field in after.fields])
    return changes


def _reorder(tx: Transaction, wanted: list[str], actual: list[str]) -> None:
    """Put the columns in the SELECT's order (columns kept from older builds go last)."""
    if actual[: len(wanted)] == wanted:
        return
    with tx.update_schema() as update:
        update.move_first(wanted[0])
        for previous, name in itertools.pairwise(wanted):
            update.move_after(name, previous)


def _spec_columns(tx: Transaction) -> list[str]:
    schema = tx.table_metadata.schema()
    return [schema.find_field(field.source_id).name for field in tx.table_metadata.spec().fields]


def _clear_spec(tx: Transaction) -> None:
    fields = [field.name for field in tx.table_metadata.spec().fields]
    if fields:
        with tx.update_spec() as update:
            for name in fields:
                update.remove_field(name)
