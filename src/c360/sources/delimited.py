"""Delimited text files: CSV and its cousins, with or without a header, plain or gzip."""

from __future__ import annotations

from pathlib import Path

from c360.config import DelimitedSource
from c360.errors import SourceError
from c360.sources.base import RAW_PREFIX, FileConnector, ParsedFile
from c360.sources.text_files import (
    compression_option,
    copy_to_parquet,
    find_files,
    framework_columns_sql,
    new_connection,
    source_error,
    sql_string,
)


class DelimitedConnector(FileConnector):
    def __init__(self, name: str, settings: DelimitedSource, root: Path) -> None:
        super().__init__(name, find_files(name, root, settings.path))
        if not settings.header and not settings.columns:
            raise SourceError(
                name, "header = false but no `columns` are given", hint="list the column names in `columns`"
            )
        self.settings = settings

    def _read_csv(self, path: Path) -> str:
        s = self.settings
        options = [
            sql_string(str(path)),
            f"delim = {sql_string(s.delimiter)}",
            f"quote = {sql_string(s.quote)}",
            f"escape = {sql_string(s.escape)}",
            f"header = {str(s.header).lower()}",
            f"encoding = {sql_string(s.encoding)}",
            f"compression = {sql_string(compression_option(s))}",
            "all_varchar = true",
            "null_padding = false",
            # Lines with the wrong number of fields are kept aside, not dropped, and land as
            # rejected records below: raw keeps every record of the file.
            "store_rejects = true",
            "rejects_table = 'c360_rejects'",
            "rejects_scan = 'c360_reject_scans'",
            "sample_size = -1",
        ]
        if s.columns:
            columns = ", ".join(f"{sql_string(c)}: 'VARCHAR'" for c in s.columns)
            options.append(f"columns = {{{columns}}}")
        return f"read_csv({', '.join(options)})"

    def parse(self, path: Path, out_dir: Path, batch_id: str) -> ParsedFile:
        import duckdb

        con = new_connection()
        try:
            relation = con.sql(f"SELECT * FROM {self._read_csv(path)}")
            clashes = [c for c in relation.columns if c.startswith(RAW_PREFIX)]
            if clashes:
                raise SourceError(self.name, f"{path.name}: column {clashes[0]} uses the reserved prefix")
            data = out_dir / "rows.parquet"
            parsed = copy_to_parquet(
                con, f"SELECT {framework_columns_sql(batch_id)}, * FROM {self._read_csv(path)}", data
            )
            rejected = con.execute(
                "SELECT line, string_agg(DISTINCT error_type || ': ' || error_message, '; '), "
                "any_value(csv_line) FROM c360_rejects GROUP BY line ORDER BY line"
            ).fetchall()
        except duckdb.Error as exc:
            raise source_error(self.name, path, exc, self.settings) from None
        finally:
            con.close()
        files = [data] if parsed else []
        if rejected:
            files.append(self._write_rejects(rejected, out_dir, batch_id))
        return ParsedFile(files=files, rows=parsed + len(rejected), rejected=len(rejected))

    def _write_rejects(self, rejected: list[tuple], out_dir: Path, batch_id: str) -> Path:
        if any("INVALID UNICODE" in str(error).upper() for _, error, _ in rejected):
            line = next(line for line, error, _ in rejected if "UNICODE" in str(error).upper())
            raise SourceError(
                self.name,
                f"line {line} is not valid {self.settings.encoding}",
                hint="set `encoding` of this source in c360.toml to the file's real encoding (e.g. latin-1)",
            )
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = out_dir / "rejected.parquet"
        table = pa.table(
            {
                f"{RAW_PREFIX}batch_id": pa.array([batch_id] * len(rejected), pa.string()),
                f"{RAW_PREFIX}record": pa.nulls(len(rejected), pa.int64()),
                f"{RAW_PREFIX}line": pa.array([int(r[0]) for r in rejected], pa.int64()),
                f"{RAW_PREFIX}error": pa.array([r[1] for r in rejected], pa.string()),
                f"{RAW_PREFIX}text": pa.array([r[2] for r in rejected], pa.string()),
            }
        )
        pq.write_table(table, path)
        return path
