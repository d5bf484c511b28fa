"""JSON lines: one record per line, nested or flat; also the Python-dict lines of the CRM export.

Raw keeps each top-level key as a text column: strings as they are, numbers and booleans as
written, nested objects and arrays as their JSON text. Typing and unnesting belong to stage; in
raw, a key that changes type between files (null here, an object there) cannot break a batch.
"""

from __future__ import annotations

import ast
import gzip
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from c360.config import JsonLinesSource
from c360.errors import SourceError
from c360.sources.base import RAW_PREFIX, FileConnector, ParsedFile
from c360.sources.text_files import (
    compression_option,
    copy_to_parquet,
    find_files,
    new_connection,
    quote_ident,
    read_lines_sql,
    source_error,
    sql_string,
)

if TYPE_CHECKING:
    import duckdb


class JsonLinesConnector(FileConnector):
    def __init__(self, name: str, settings: JsonLinesSource, root: Path) -> None:
        super().__init__(name, find_files(name, root, settings.path))
        self.settings = settings

    def parse(self, path: Path, out_dir: Path, batch_id: str) -> ParsedFile:
        import duckdb

        con = new_connection()
        try:
            with tempfile.TemporaryDirectory(prefix="c360-json-") as scratch:
                if self.settings.format == "python":
                    lines = read_lines_sql(self._python_to_json(path, Path(scratch)))
                else:
                    lines = read_lines_sql(path, self.settings.encoding, compression_option(self.settings))
                return self._parse_lines(con, lines, path, out_dir / "rows.parquet", batch_id)
        except (duckdb.Error, UnicodeDecodeError, OSError, EOFError) as exc:
            raise source_error(self.name, path, exc, self.settings) from None
        finally:
            con.close()

    def _parse_lines(
        self, con: duckdb.DuckDBPyConnection, lines: str, path: Path, data: Path, batch_id: str
    ) -> ParsedFile:
        con.execute(
            "CREATE TEMP TABLE lines AS SELECT n, line, "
            # DuckDB evaluates both sides of AND and json_type() fails on invalid JSON: CASE guards it.
            "CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END AS ok "
            f"FROM (SELECT row_number() OVER () AS n, line FROM {lines}) "
            "WHERE line IS NOT NULL AND trim(line) <> ''"
        )
        keys = [
            row[0]
            for row in con.execute(
                "SELECT DISTINCT unnest(json_keys(CASE WHEN ok THEN line END)) AS k FROM lines ORDER BY k"
            ).fetchall()
        ]
        clashes = [k for k in keys if k.startswith(RAW_PREFIX)]
        if clashes:
            raise SourceError(self.name, f"{path.name}: key {clashes[0]} uses the reserved prefix")
        rows = copy_to_parquet(con, self._select(keys, batch_id), data)
        rejected = con.execute("SELECT count(*) FROM lines WHERE NOT ok").fetchone()[0]
        return ParsedFile(files=[data] if rows else [], rows=rows, rejected=rejected)

    @staticmethod
    def _select(keys: list[str], batch_id: str) -> str:
        if keys:
            structure = "{" + ", ".join(f'{json.dumps(k)}: "JSON"' for k in keys) + "}"
            values = "".join(
                f", CASE json_type(r.{quote_ident(k)}) WHEN 'VARCHAR' THEN r.{quote_ident(k)} ->> '$' "
                f"ELSE CAST(r.{quote_ident(k)} AS VARCHAR) END AS {quote_ident(k)}"
                for k in keys
            )
            parsed = f"CASE WHEN ok THEN from_json(line, {sql_string(structure)}) END AS r"
        else:
            values, parsed = "", "NULL AS r"
        return (
            f"SELECT {sql_string(batch_id)} AS _c360_batch_id, "
            "row_number() OVER (ORDER BY n) AS _c360_record, "
            f"CASE WHEN NOT ok THEN n END AS _c360_line, "
            f"CASE WHEN NOT ok THEN 'INVALID JSON: the line is not a JSON object' END AS _c360_error, "
            f"CASE WHEN NOT ok THEN line END AS _c360_text{values} "
            f"FROM (SELECT n, line, ok, {parsed} FROM lines) ORDER BY n"
        )

    def _python_to_json(self, path: Path, scratch: Path) -> Path:
        """Rewrite Python-dict lines as JSON lines.

        A line that is not a Python literal is written unchanged, so that it lands as a rejected
        record with its text instead of failing the whole file.
        """
        target = scratch / "python_lines.json"
        gzipped = self.settings.compression == "gzip" or (
            self.settings.compression == "auto" and path.suffix == ".gz"
        )
        opener = gzip.open if gzipped else open
        with (
            opener(path, "rt", encoding=self.settings.encoding) as src,
            open(target, "w", encoding="utf-8") as dst,
        ):
            for line in src:
                text = line.rstrip("\r\n")
                try:
                    converted = json.dumps(ast.literal_eval(text), default=str) if text.strip() else text
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    converted = text
                dst.write(converted + "\n")
        return target
