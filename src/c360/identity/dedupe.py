"""Standalone deduplication: the identity engine on any person tables, outside a c360 project.

``c360 identity dedupe people.csv --id id --out clusters.csv`` reads CSV or Parquet files, maps
their columns onto the person fields (same-named columns by default, ``--map first_name=fname``
otherwise; ``full_name`` is split like a typed name), trains a model on the data (or uses a given
one), links the records within and across the files, clusters them and writes one row per record:
record_id, source, record_key, cluster_id.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from c360.errors import C360Error
from c360.identity import normalize
from c360.identity.errors import NoUsableFields
from c360.identity.matching import find_edges
from c360.identity.model import MatchModel, train
from c360.identity.records import COLUMNS

if TYPE_CHECKING:
    import duckdb

FIELDS = ("client_id", "first_name", "last_name", "full_name", "email", "phone", "birth_date", "address",
          "city", "country", "updated_at")  # fmt: skip
IDENTIFYING = ("first_name", "last_name", "full_name", "email", "phone")
READERS = {".csv": "read_csv", ".tsv": "read_csv", ".txt": "read_csv", ".parquet": "read_parquet"}
DEFAULT_THRESHOLD = 0.9


def _reader(path: Path) -> str:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise C360Error(
            f"cannot read {path}: unknown file type '{path.suffix}'",
            hint="give CSV (.csv, .tsv, .txt) or Parquet (.parquet) files",
        )
    quoted = str(path).replace("'", "''")
    return (
        f"{reader}('{quoted}')" if reader == "read_parquet" else f"read_csv('{quoted}', all_varchar = true)"
    )


def _field_sql(field: str, column: str | None) -> str:
    if column is None:
        return "NULL"
    col = '"' + column.replace('"', '""') + '"'
    return {
        "client_id": f"TRY_CAST({col} AS BIGINT)",
        "first_name": f"c360_clean({col})",
        "last_name": f"c360_clean({col})",
        "email": f"c360_email({col})",
        "phone": f"c360_phone({col})",
        "birth_date": f"TRY_CAST({col} AS DATE)",
        "updated_at": f"TRY_CAST({col} AS TIMESTAMP)",
    }.get(field, f"c360_clean({col})")


def _select(path: Path, source: str, id_column: str, columns: list[str], mapping: dict[str, str]) -> str:
    """The SELECT turning one file into person records."""
    chosen = {f: mapping.get(f, f if f in columns else None) for f in FIELDS}
    if not any(chosen[f] for f in IDENTIFYING):
        raise NoUsableFields(
            f"{path} has no column to match people on (columns: {', '.join(columns)})",
            hint=f"map at least one of {', '.join(IDENTIFYING)} (e.g. --map first_name=fname)",
        )
    full = chosen["full_name"]
    first = _field_sql("first_name", chosen["first_name"])
    last = _field_sql("last_name", chosen["last_name"])
    if full is not None:
        full_sql = '"' + full.replace('"', '""') + '"'
        first = f"coalesce({first}, c360_given_of({full_sql}))"
        last = f"coalesce({last}, c360_family_of({full_sql}))"
    key = '"' + id_column.replace('"', '""') + '"'
    values = {
        "record_key": f"CAST({key} AS VARCHAR)",
        "source": f"'{source}'",
        "first_name": first,
        "last_name": last,
        "batch_id": "NULL",
        **{f: _field_sql(f, chosen[f]) for f in FIELDS if f not in ("first_name", "last_name", "full_name")},
    }
    select = ", ".join(f"{values[c]} AS {c}" for c in COLUMNS if c != "record_id")
    return f"SELECT {select} FROM {_reader(path)}"


def _columns(con: duckdb.DuckDBPyConnection, path: Path, id_column: str) -> list[str]:
    if not path.is_file():
        raise C360Error(f"no file {path}", hint="check the path (CSV or Parquet files are accepted)")
    columns = [d[0] for d in con.execute(f"SELECT * FROM {_reader(path)} LIMIT 0").description]
    if id_column not in columns:
        raise C360Error(
            f"{path} has no id column '{id_column}' (columns: {', '.join(columns)})",
            hint="name the column that identifies each row with --id",
        )
    return columns


def _check_mapping(mapping: dict[str, str], columns: dict[Path, list[str]]) -> None:
    """Each mapped column must exist in at least one file (files of one link may differ)."""
    for field, column in mapping.items():
        if field not in FIELDS:
            raise C360Error(
                f"--map {field}={column}: '{field}' is not a person field",
                hint=f"map one of {', '.join(FIELDS)}",
            )
        if not any(column in names for names in columns.values()):
            listing = "; ".join(f"{path} has {', '.join(names)}" for path, names in columns.items())
            raise C360Error(
                f"--map {field}={column}: no file has a column '{column}' ({listing})",
                hint="map to a column of the files",
            )


def load_records(
    con: duckdb.DuckDBPyConnection, files: list[Path], id_column: str, mapping: dict[str, str], out: str
) -> str:
    """Create the person-record table ``out`` from ``files``; record ids carry the file stem when
    several files are linked, so equal ids in two files stay two records."""
    normalize.install(con)
    columns = {path: _columns(con, path, id_column) for path in files}
    _check_mapping(mapping, columns)
    selects = []
    for path, names in columns.items():
        present = {field: column for field, column in mapping.items() if column in names}
        selects.append(_select(path, path.stem, id_column, names, present))
    prefix = "source || ':' || " if len(files) > 1 else ""
    union = " UNION ALL ".join(f"SELECT * FROM ({s})" for s in selects)
    con.execute(f"CREATE OR REPLACE TABLE {out} AS SELECT {prefix}record_key AS record_id, * FROM ({union})")
    duplicated = con.execute(
        f"SELECT record_id FROM {out} GROUP BY record_id HAVING count(*) > 1 LIMIT 1"
    ).fetchall()
    if duplicated:
        raise C360Error(
            f"the id column '{id_column}' is not unique: '{duplicated[0][0]}' appears more than once",
            hint="give a column with one distinct value per row as --id",
        )
    return out


def dedupe(
    files: list[Path],
    id_column: str,
    mapping: dict[str, str] | None,
    out: Path,
    model: MatchModel | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, int]:
    """Cluster the person records of ``files`` and write record id -> cluster id to ``out``.

    Returns counts: records, clusters, edges. ``out`` is CSV or Parquet by its extension.
    """
    import duckdb

    from c360.console import console
    from c360.identity.clusters import connected_components

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise C360Error(f"cannot write {out}: give a .csv or .parquet output file")
    con = duckdb.connect()
    try:
        with console.status("reading records"):
            records = load_records(con, [Path(f) for f in files], id_column, mapping or {}, "dedupe_records")
        if model is None:
            with console.status("training the match model"):
                model = train(con, records)
        with console.status("matching"):
            edges = find_edges(con, records, model)
            clusters = connected_components(con, records, edges, threshold)
        con.execute(
            f"""CREATE TABLE dedupe_out AS
            SELECT r.record_id, r.source, r.record_key,
                   dense_rank() OVER (ORDER BY c.cluster_key) AS cluster_id
            FROM {records} r JOIN {clusters} c USING (record_id) ORDER BY r.record_id"""
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        target = str(out).replace("'", "''")
        fmt = "(FORMAT parquet)" if suffix == ".parquet" else "(FORMAT csv, HEADER true)"
        con.execute(f"COPY dedupe_out TO '{target}' {fmt}")
        counts = con.execute(
            f"SELECT count(*), count(DISTINCT cluster_id), (SELECT count(*) FROM {edges}) FROM dedupe_out"
        ).fetchall()[0]
    finally:
        con.close()
    return {"records": counts[0], "clusters": counts[1], "edges": counts[2]}
