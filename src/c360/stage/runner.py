"""``c360 stage``: type and validate every raw batch not staged yet.

One DuckDB pass per source over its pending batches. Crash safety follows the raw zone's pattern:
each commit to ``stage.*`` and ``quarantine.*`` names its batches in a snapshot property, and the
reconciliation row in ``stage.batches`` is written last; a later run deletes the rows of batches
that committed somewhere but never reached ``stage.batches``, then stages them again.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

from c360.errors import C360Error
from c360.lake.catalog import open_catalog
from c360.lake.lock import writer_lock
from c360.lake.query import register_table
from c360.lake.tables import append_rows, commit_parquet, ensure_table, load_table, read_arrow
from c360.raw.manifest import MANIFEST_TABLE
from c360.sources.base import RAW_PREFIX
from c360.stage.contract import Contract, ExplodedTable, load_contract
from c360.stage.expressions import (
    ColumnSql,
    column_sql,
    decoded,
    extracted_name,
    json_extraction,
    json_paths,
    literal,
    quote,
    raw_name,
    typed_name,
    typed_text,
    value_name,
)

if TYPE_CHECKING:
    import duckdb
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table

    from c360.config import Project

RECONCILIATION_TABLE = "stage.batches"
STAGE_MEMORY_LIMIT = "3GB"
STAGE_PROPERTY = "c360.stage"
RECONCILIATION_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("batch_id", pa.string()),
        ("raw_rows", pa.int64()),
        ("stage_rows", pa.int64()),
        ("quarantine_rows", pa.int64()),
        ("duplicates", pa.int64()),
        ("status", pa.string()),
        ("message", pa.string()),
        ("staged_at", pa.timestamp("us", tz="UTC")),
    ]
)


class StageReporter(Protocol):
    def staged(self, source: str, batches: int, stage_rows: int, quarantine_rows: int) -> None: ...


@dataclass
class SourceStaged:
    source: str
    contract: str
    batches: int = 0
    raw_rows: int = 0
    stage_rows: int = 0
    quarantine_rows: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    messages: list[str] = field(default_factory=list)


@dataclass
class StageResult:
    sources: list[SourceStaged]
    without_contract: list[str]
    repaired: int


class ReconciliationError(C360Error):
    """raw rows ≠ stage rows + quarantine rows: a bug, so nothing of the batch is committed."""


def stage(
    project: Project, only: list[str] | None = None, reporter: StageReporter | None = None
) -> StageResult:
    with writer_lock(project.lake_dir, "c360 stage"):
        return stage_locked(project, open_catalog(project), only, reporter)


def stage_locked(
    project: Project,
    catalog: SqlCatalog,
    only: list[str] | None = None,
    reporter: StageReporter | None = None,
) -> StageResult:
    """Stage with the lake's writer lock already held (the pipeline holds it for all its steps)."""
    reconciliation = ensure_table(catalog, RECONCILIATION_TABLE, RECONCILIATION_SCHEMA)
    done = {
        (r["source"], r["batch_id"])
        for r in read_arrow(reconciliation).select(["source", "batch_id"]).to_pylist()
    }
    manifest_table = load_table(catalog, MANIFEST_TABLE)
    landed = (
        read_arrow(manifest_table).select(["source", "batch_id", "rows", "received_at"])
        if manifest_table
        else None
    )
    result = StageResult([], [], 0)
    for name in project.source_names(only):
        settings = project.settings.sources[name]
        contract = load_contract(settings.contract or name, project.root)
        if contract is None:
            result.without_contract.append(name)
            continue
        result.repaired += _repair(catalog, name, contract, done)
        pending = (
            sorted(
                (r["received_at"], r["batch_id"], r["rows"])
                for r in landed.to_pylist()
                if r["source"] == name and (name, r["batch_id"]) not in done
            )
            if landed is not None
            else []
        )
        summary = SourceStaged(name, contract.name)
        started = time.perf_counter()
        if pending:
            _stage_source(
                catalog, project.lake_dir, name, contract, {b: rows for _, b, rows in pending}, summary
            )
        summary.seconds = time.perf_counter() - started
        result.sources.append(summary)
        if reporter is not None:
            reporter.staged(name, summary.batches, summary.stage_rows, summary.quarantine_rows)
    return result


def _target_tables(name: str, contract: Contract) -> list[str]:
    return [f"quarantine.{name}", f"stage.{name}", *(f"stage.{t.name}" for t in contract.tables)]


def _repair(catalog: SqlCatalog, name: str, contract: Contract, done: set[tuple[str, str]]) -> int:
    """Delete rows of batches whose staging committed part way (a crash before stage.batches)."""
    from pyiceberg.expressions import In

    repaired = 0
    for table_name in _target_tables(name, contract):
        table = load_table(catalog, table_name)
        if table is None:
            continue
        partial: set[str] = set()
        for snapshot in table.metadata.snapshots:
            text = snapshot.summary[STAGE_PROPERTY] if snapshot.summary else None
            if text:
                partial |= {b for b in json.loads(text)["batches"] if (name, b) not in done}
        if partial:
            table.delete(In(f"{RAW_PREFIX}batch_id", sorted(partial)))
            repaired += len(partial)
    return repaired


def _describe(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE {relation}").fetchall()}


def _stage_source(
    catalog: SqlCatalog,
    lake_dir: Path,
    name: str,
    contract: Contract,
    pending: dict[str, int],
    summary: SourceStaged,
) -> None:
    import duckdb

    raw_table = load_table(catalog, f"raw.{name}")
    # Order within stage tables carries no meaning, and not preserving it lets DuckDB stream and
    # spill: big sources stay within a bounded memory.
    spill = lake_dir / ".tmp"
    spill.mkdir(exist_ok=True)
    con = duckdb.connect(
        config={
            "threads": 2,
            "preserve_insertion_order": False,
            "memory_limit": STAGE_MEMORY_LIMIT,
            "temp_directory": str(spill),
        }
    )
    if raw_table is None:
        # Every pending batch was empty (a file with a header only): nothing to type.
        _record(catalog, name, {b: (rows, 0, 0, 0) for b, rows in pending.items()}, {}, summary)
        return
    register_table(con, raw_table, f"raw.{name}")
    raw_types = _describe(con, f"raw.{quote(name)}")
    sqls = _build_checked(con, name, contract, raw_types, list(pending))
    missing = _missing_columns(con, contract)
    _apply_rules(con, contract, sqls, missing)
    _mark_duplicates(con, catalog, name)
    counts = {
        b: (total, staged, total - staged, dups)
        for b, total, staged, dups in con.execute(
            "SELECT b, count(*), count(*) FILTER (WHERE final_rule IS NULL), "
            "count(*) FILTER (WHERE final_rule = 'duplicate') FROM final GROUP BY b"
        ).fetchall()
    }
    for batch, raw_rows in pending.items():
        total = counts.get(batch, (0, 0, 0, 0))[0]
        if total != raw_rows:
            raise ReconciliationError(
                f"stage of {name} batch {batch}: the manifest says {raw_rows} raw rows but raw.{name} holds "
                f"{total}; nothing of it was committed",
                hint="the raw zone and its manifest disagree: run `c360 ingest` (it repairs the manifest)",
            )
    run = uuid.uuid4().hex[:12]
    quarantined = _write_query(
        con, catalog, f"quarantine.{name}", _quarantine_select(name, raw_types, list(pending)), run
    )
    staged = _write_query(
        con, catalog, f"stage.{name}", _stage_select(contract, _extras(contract, raw_types)), run
    )
    # What was written, not only what was counted, must add up before anything is committed.
    if staged.rows + quarantined.rows != sum(pending.values()):
        for output in (staged, quarantined):
            output.path.unlink(missing_ok=True)
        raise ReconciliationError(
            f"stage of {name}: raw has {sum(pending.values())} rows but {staged.rows} were staged and "
            f"{quarantined.rows} quarantined; nothing was committed",
            hint="this is a bug in c360: please report it with the batches",
        )
    exploded = [
        _write_query(con, catalog, f"stage.{table.name}", _exploded_select(contract, table), run)
        for table in contract.tables
    ]
    _commit_written(
        [quarantined, staged, *exploded], {STAGE_PROPERTY: json.dumps({"batches": sorted(pending)})}
    )
    messages = {b: missing_columns_message(cols) for b, cols in missing.items()}
    _record(catalog, name, {b: counts.get(b, (0, 0, 0, 0)) for b in pending}, messages, summary)
    con.close()


def _framework(raw_types: dict[str, str], column: str, sql_type: str) -> str:
    return quote(column) if column in raw_types else f"CAST(NULL AS {sql_type})"


def _extras(contract: Contract, raw_types: dict[str, str]) -> dict[str, str]:
    """Raw columns no contract column reads: carried into stage as text (schema evolution)."""
    used = {raw for c in contract.columns for raw in c.raw} | {t.array for t in contract.tables}
    declared = {c.name for c in contract.columns}
    extras: dict[str, str] = {}
    for raw in raw_types:
        if raw.startswith(RAW_PREFIX) or raw in used:
            continue
        snake = "".join(ch if ch.isalnum() else "_" for ch in raw.strip()).lower().strip("_") or "column"
        extras[raw] = f"raw_{snake}" if snake in declared or snake in extras.values() else snake
    return extras


def _build_checked(
    con: duckdb.DuckDBPyConnection,
    name: str,
    contract: Contract,
    raw_types: dict[str, str],
    batches: list[str],
) -> dict[str, ColumnSql]:
    """The view ``typed`` over the pending batches; returns each column's expressions."""
    paths = json_paths(contract.columns, raw_types)
    sqls = {c.name: column_sql(c, raw_types, paths) for c in contract.columns}
    extras = _extras(contract, raw_types)
    level1 = [
        f"{quote(RAW_PREFIX + 'batch_id')} AS b",
        f"{_framework(raw_types, RAW_PREFIX + 'record', 'BIGINT')} AS rec",
        f"{_framework(raw_types, RAW_PREFIX + 'line', 'BIGINT')} AS line",
        f"{_framework(raw_types, RAW_PREFIX + 'error', 'VARCHAR')} AS perr",
        f"{_framework(raw_types, RAW_PREFIX + 'text', 'VARCHAR')} AS ptext",
        *(f"{sql.raw} AS {raw_name(contract.column(col))}" for col, sql in sqls.items()),
        *(f"CAST({quote(raw)} AS VARCHAR) AS {quote('__x_' + stage)}" for raw, stage in extras.items()),
        *(
            f"{_framework(raw_types, t.array, 'VARCHAR')} AS {quote('__a_' + t.name)}"
            for t in contract.tables
        ),
        f"{_record_key(raw_types)} AS k",
    ]
    batch_list = ", ".join(literal(b) for b in batches)
    extractions = "".join(
        f", {json_extraction(raw, raw_types[raw], raw_paths)} AS {extracted_name(raw)}"
        for raw, raw_paths in paths.items()
    )
    values = ", ".join(f"{sql.value} AS {value_name(contract.column(col))}" for col, sql in sqls.items())
    typed = ", ".join(f"{sql.typed} AS {typed_name(contract.column(col))}" for col, sql in sqls.items())
    con.execute(
        "CREATE TEMP VIEW typed AS "
        f"WITH l0 AS (SELECT *{extractions} FROM raw.{quote(name)} "
        f"WHERE {quote(RAW_PREFIX + 'batch_id')} IN ({batch_list})), "
        f"l1 AS (SELECT {', '.join(level1)} FROM l0 src), "
        f"l2 AS (SELECT *, {values} FROM l1) "
        f"SELECT *, {typed} FROM l2"
    )
    return sqls


def _missing_columns(con: duckdb.DuckDBPyConnection, contract: Contract) -> dict[str, list[str]]:
    """Batches in which a non-nullable column never has a value: their schema changed."""
    required = [c for c in contract.columns if not c.nullable]
    if not required:
        return {}
    counts = ", ".join(f"count({raw_name(c)})" for c in required)
    missing: dict[str, list[str]] = {}
    for row in con.execute(
        f"SELECT b, count(*) FILTER (WHERE perr IS NULL), {counts} FROM typed GROUP BY b"
    ).fetchall():
        batch, parsed, *present = row
        absent = [c.name for c, n in zip(required, present, strict=True) if n == 0 and parsed > 0]
        if absent:
            missing[batch] = absent
    return missing


def missing_columns_message(columns: list[str]) -> str:
    """Why a batch was quarantined whole: in stage.batches and on each of its quarantine rows."""
    return f"column(s) {', '.join(columns)} missing from this batch: renamed or dropped at the source?"


def _apply_rules(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    sqls: dict[str, ColumnSql],
    missing: dict[str, list[str]],
) -> None:
    firsts: list[tuple[str, str, str, str]] = [("perr IS NOT NULL", "'unparseable'", "NULL", "ptext")]
    for batch, columns in missing.items():
        message = literal(missing_columns_message(columns))
        firsts.append((f"b = {literal(batch)}", "'schema'", literal(columns[0]), message))
    labels: list[str] = []
    for column in contract.columns:
        for rule, condition in sqls[column.name].violations:
            value = f"CAST({raw_name(column)} AS VARCHAR)"
            firsts.append((condition, literal(rule), literal(column.name), value))
            labels.append(f"CASE WHEN {condition} THEN {literal(f'{rule}({column.name})')} END")
    rule = "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, r, _, _ in firsts) + " END"
    column = "CASE " + " ".join(f"WHEN {c} THEN {col}" for c, _, col, _ in firsts) + " END"
    value = "CASE " + " ".join(f"WHEN {c} THEN {v}" for c, _, _, v in firsts) + " END"
    every = f"CASE WHEN perr IS NOT NULL THEN perr ELSE concat_ws('; ', {', '.join(labels) or 'NULL'}) END"
    hashed = ", ".join(typed_name(c) for c in contract.columns)
    con.execute(
        f"CREATE TEMP TABLE checked AS SELECT *, {rule} AS rule, {column} AS column_name, "
        f"{value} AS bad_value, nullif({every}, '') AS violations, "
        f"CAST(hash({hashed}) >> 1 AS BIGINT) AS h FROM typed"
    )


def _mark_duplicates(con: duckdb.DuckDBPyConnection, catalog: SqlCatalog, name: str) -> None:
    """Exact re-sends: a valid row equal to one staged before, or to an earlier one of these batches.

    Only the few hashes that repeat are ranked, so the common case costs one GROUP BY, not a sort.
    """
    con.execute(
        "CREATE TEMP TABLE repeated AS SELECT h, min((b, k)) AS first FROM checked WHERE rule IS NULL "
        "GROUP BY h HAVING count(*) > 1"
    )
    stage_table = load_table(catalog, f"stage.{name}")
    if stage_table is not None:
        register_table(con, stage_table, f"stage.{name}")
        con.execute(
            "CREATE TEMP TABLE seen AS SELECT DISTINCT h FROM checked WHERE rule IS NULL AND h IN "
            f"(SELECT {quote(RAW_PREFIX + 'row_hash')} FROM stage.{quote(name)})"
        )
    else:
        con.execute("CREATE TEMP TABLE seen (h BIGINT)")
    con.execute(
        "CREATE TEMP VIEW final AS SELECT c.*, CASE WHEN c.rule IS NOT NULL THEN c.rule "
        "WHEN c.h IN (SELECT h FROM seen) THEN 'duplicate' "
        "WHEN r.first IS NOT NULL AND (c.b, c.k) <> r.first THEN 'duplicate' END AS final_rule "
        "FROM checked c LEFT JOIN repeated r ON c.h = r.h AND c.rule IS NULL"
    )


def _record_key(raw_types: dict[str, str]) -> str:
    """A key unique per raw row within a batch: its record number, or minus its line if rejected."""
    record = _framework(raw_types, RAW_PREFIX + "record", "BIGINT")
    return f"coalesce({record}, -{_framework(raw_types, RAW_PREFIX + 'line', 'BIGINT')})"


def _stage_select(contract: Contract, extras: dict[str, str]) -> str:
    columns = [f"{typed_name(c)} AS {quote(c.name)}" for c in contract.columns]
    columns += [f"{quote('__x_' + stage)} AS {quote(stage)}" for stage in extras.values()]
    columns += [
        f"b AS {quote(RAW_PREFIX + 'batch_id')}",
        f"rec AS {quote(RAW_PREFIX + 'record')}",
        f"h AS {quote(RAW_PREFIX + 'row_hash')}",
    ]
    return f"SELECT {', '.join(columns)} FROM final WHERE final_rule IS NULL"


def _quarantine_select(name: str, raw_types: dict[str, str], batches: list[str]) -> str:
    """Quarantined rows with their whole raw row as JSON, read back from raw for those rows only."""
    batch_list = ", ".join(literal(b) for b in batches)
    batch_column = quote(RAW_PREFIX + "batch_id")
    return (
        f"SELECT q.b AS {batch_column}, q.rec AS {quote(RAW_PREFIX + 'record')}, "
        f"q.line AS {quote(RAW_PREFIX + 'line')}, q.final_rule AS rule, q.column_name, q.bad_value AS value, "
        "CASE WHEN q.final_rule = 'duplicate' THEN 'exact re-send of a row already staged' "
        "ELSE q.violations END AS violations, CAST(to_json(src.row_data) AS VARCHAR) AS raw_row "
        "FROM (SELECT * FROM final WHERE final_rule IS NOT NULL) q "
        f"JOIN (SELECT raw_table AS row_data, {batch_column} AS batch, {_record_key(raw_types)} AS key "
        f"FROM raw.{quote(name)} raw_table WHERE {batch_column} IN ({batch_list})) src "
        "ON src.batch = q.b AND src.key = q.k "
        "ORDER BY q.b, q.k"
    )


def _exploded_select(contract: Contract, table: ExplodedTable) -> str:
    parents = [f"{typed_name(contract.column(p))} AS {quote(p)}" for p in table.parent]
    elements = []
    for column in table.columns:
        text = f"nullif(trim(json_extract_string(elem, {literal(column.path or '$.' + column.name)})), '')"
        elements.append(f"{typed_text(column, decoded(column, text))} AS {quote(column.name)}")
    array = quote("__a_" + table.name)
    return (
        f"SELECT {', '.join([*parents, *elements])}, b AS {quote(RAW_PREFIX + 'batch_id')}, "
        f"rec AS {quote(RAW_PREFIX + 'record')}, position AS {quote(RAW_PREFIX + 'position')} "
        f"FROM (SELECT *, unnest(CAST(json({array}) AS JSON[])) AS elem, "
        f"generate_subscripts(CAST(json({array}) AS JSON[]), 1) AS position "
        f"FROM final WHERE final_rule IS NULL AND json_valid({array}) AND json_type({array}) = 'ARRAY') "
    )


@dataclass
class _Written:
    """One stage output written as Parquet, not committed yet."""

    table_name: str
    table: Table
    path: Path
    schema: pa.Schema
    rows: int


def _write_query(
    con: duckdb.DuckDBPyConnection, catalog: SqlCatalog, table_name: str, select: str, run: str
) -> _Written:
    schema = con.sql(f"{select} LIMIT 0").to_arrow_table().schema
    table: Table = ensure_table(catalog, table_name, schema)
    data_dir = Path(table.location().removeprefix("file://")) / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"c360-{run}.parquet"
    written = con.execute(f"COPY ({select}) TO {literal(str(path))} (FORMAT parquet, COMPRESSION zstd)")
    return _Written(table_name, table, path, schema, int(written.fetchone()[0]))


def _commit_written(outputs: list[_Written], properties: dict[str, str]) -> None:
    for output in outputs:
        if output.rows == 0:
            output.path.unlink(missing_ok=True)
            continue
        try:
            commit_parquet(output.table, [output.path], output.schema, properties)
        except Exception as exc:
            output.path.unlink(missing_ok=True)
            raise C360Error(
                f"cannot add this batch to {output.table_name}: {exc}",
                hint="a column changed type incompatibly; the batch was not staged (fix contract or source)",
            ) from exc


def _record(
    catalog: SqlCatalog,
    name: str,
    counts: dict[str, tuple[int, int, int, int]],
    messages: dict[str, str],
    summary: SourceStaged,
) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "source": name,
            "batch_id": batch,
            "raw_rows": total,
            "stage_rows": staged,
            "quarantine_rows": quarantined,
            "duplicates": dups,
            "status": "quarantined" if batch in messages else "staged",
            "message": messages.get(batch),
            "staged_at": now,
        }
        for batch, (total, staged, quarantined, dups) in counts.items()
    ]
    append_rows(
        ensure_table(catalog, RECONCILIATION_TABLE, RECONCILIATION_SCHEMA),
        pa.Table.from_pylist(rows, schema=RECONCILIATION_SCHEMA),
    )
    summary.batches += len(rows)
    summary.raw_rows += sum(r["raw_rows"] for r in rows)
    summary.stage_rows += sum(r["stage_rows"] for r in rows)
    summary.quarantine_rows += sum(r["quarantine_rows"] for r in rows)
    summary.duplicates += sum(r["duplicates"] for r in rows)
    summary.messages += [f"{b}: {m}" for b, m in messages.items()]
