"""Delimited text files: CSV and its cousins, with or without a header, plain or gzip."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pyarrow.parquet as pq

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

    def _header(self, path: Path) -> list[str]:
        """The column names from the file's first line, read here rather than sniffed by DuckDB.

        DuckDB's sniffer gives up on a whole file when one line is malformed (an unclosed quote);
        with the columns known, the parser instead rejects just that line and lands the rest.
        """
        s = self.settings
        gzipped = s.compression == "gzip" or (s.compression == "auto" and path.suffix == ".gz")
        encoding = "utf-8-sig" if s.encoding == "utf-8" else s.encoding
        with (gzip.open if gzipped else open)(path, "rt", encoding=encoding, newline="") as handle:
            first = next(csv.reader(handle, delimiter=s.delimiter, quotechar=s.quote), None)
        if not first:
            raise SourceError(
                self.name, f"{path.name} has no header line", hint="set header = false and columns"
            )
        names = [name.strip() or f"column{i}" for i, name in enumerate(first)]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise SourceError(
                self.name,
                f"{path.name}: the header repeats column '{repeated[0]}'",
                hint="rename the column in the file, or set header = false with your own `columns`",
            )
        return names

    def _read_csv(self, path: Path, columns: list[str]) -> str:
        s = self.settings
        types = ", ".join(f"{sql_string(c)}: 'VARCHAR'" for c in columns)
        options = [
            sql_string(str(path)),
            f"columns = {{{types}}}",
            "auto_detect = false",
            "header = false",
            f"skip = {1 if s.header else 0}",
            f"delim = {sql_string(s.delimiter)}",
            f"quote = {sql_string(s.quote)}",
            f"escape = {sql_string(s.escape)}",
            f"encoding = {sql_string(s.encoding)}",
            f"compression = {sql_string(compression_option(s))}",
            "null_padding = false",
            # Lines with the wrong number of fields are kept aside, not dropped, and land as
            # rejected records below: raw keeps every record of the file.
            "store_rejects = true",
            "rejects_table = 'c360_rejects'",
            "rejects_scan = 'c360_reject_scans'",
        ]
        return f"read_csv({', '.join(options)})"

    def parse(self, path: Path, out_dir: Path, batch_id: str) -> ParsedFile:
        import duckdb

        try:
            columns = self._header(path) if self.settings.header else list(self.settings.columns or [])
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
            raise source_error(self.name, path, exc, self.settings) from None
        clashes = [c for c in columns if c.startswith(RAW_PREFIX)]
        if clashes:
            raise SourceError(self.name, f"{path.name}: column {clashes[0]} uses the reserved prefix")
        con = new_connection()
        try:
            data = out_dir / "rows.parquet"
            parsed = copy_to_parquet(
                con, f"SELECT {framework_columns_sql(batch_id)}, * FROM {self._read_csv(path, columns)}", data
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
        rejected_lines = 0
        if rejected:
            files.append(self._write_rejects(rejected, out_dir, batch_id))
            rejected_lines = pq.read_metadata(files[-1]).num_rows
        return ParsedFile(files=files, rows=parsed + rejected_lines, rejected=rejected_lines)

    def _write_rejects(self, rejected: list[tuple], out_dir: Path, batch_id: str) -> Path:
        if any("INVALID UNICODE" in str(error).upper() for _, error, _ in rejected):
            line = next(line for line, error, _ in rejected if "UNICODE" in str(error).upper())
            raise SourceError(
                self.name,
                f"line {line} is not valid {self.settings.encoding}",
                hint="set `encoding` of this source in c360.toml to the file's real encoding (e.g. latin-1)",
            )
        import pyarrow as pa

        # An unclosed quote makes the parser swallow the following line(s) into one rejected record;
        # each physical line lands as its own rejected record, so every line of the file is counted.
        lines, errors, texts = [], [], []
        for line, error, text in rejected:
            for offset, part in enumerate(str(text).split("\n")):
                lines.append(int(line) + offset)
                errors.append(error if offset == 0 else f"{error} (continued from line {line})")
                texts.append(part.removesuffix("\r"))
        path = out_dir / "rejected.parquet"
        table = pa.table(
            {
                f"{RAW_PREFIX}batch_id": pa.repeat(pa.scalar(batch_id, pa.string()), len(lines)),
                f"{RAW_PREFIX}record": pa.nulls(len(lines), pa.int64()),
                f"{RAW_PREFIX}line": pa.array(lines, pa.int64()),
                f"{RAW_PREFIX}error": pa.array(errors, pa.string()),
                f"{RAW_PREFIX}text": pa.array(texts, pa.string()),
            }
        )
        pq.write_table(table, path)
        return path
