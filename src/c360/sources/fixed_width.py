"""Fixed-width text, as mainframe extracts are: a layout of names, start positions and widths."""

from __future__ import annotations

from pathlib import Path

from c360.config import FixedWidthSource
from c360.sources.base import FileConnector, ParsedFile
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


class FixedWidthConnector(FileConnector):
    def __init__(self, name: str, settings: FixedWidthSource, root: Path) -> None:
        super().__init__(name, find_files(name, root, settings.path))
        self.settings = settings
        self.record_length = max(field.start + field.width - 1 for field in settings.layout)

    def _select(self, path: Path, batch_id: str) -> str:
        # Fields keep their padding trimmed but are otherwise as written; a short line still lands,
        # with the reason it is short, so stage can quarantine it instead of it vanishing.
        fields = ", ".join(
            f"nullif(trim(substr(line, {f.start}, {f.width})), '') AS {quote_ident(f.name)}"
            for f in self.settings.layout
        )
        short = f"length(line) < {self.record_length}"
        lines = read_lines_sql(path, self.settings.encoding, compression_option(self.settings))
        return (
            f"SELECT {sql_string(batch_id)} AS _c360_batch_id, row_number() OVER () AS _c360_record, "
            f"CASE WHEN {short} THEN row_number() OVER () END AS _c360_line, "
            f"CASE WHEN {short} THEN 'SHORT LINE: ' || length(line) || ' characters, the layout needs "
            f"{self.record_length}' END AS _c360_error, "
            f"CASE WHEN {short} THEN line END AS _c360_text, {fields} "
            f"FROM (SELECT coalesce(line, '') AS line FROM {lines})"
        )

    def parse(self, path: Path, out_dir: Path, batch_id: str) -> ParsedFile:
        import duckdb

        con = new_connection()
        data = out_dir / "rows.parquet"
        try:
            rows = copy_to_parquet(con, self._select(path, batch_id), data)
            rejected = con.execute(
                f"SELECT count(*) FROM read_parquet({sql_string(str(data))}) WHERE _c360_error IS NOT NULL"
            ).fetchone()[0]
        except duckdb.Error as exc:
            raise source_error(self.name, path, exc, self.settings) from None
        finally:
            con.close()
        return ParsedFile(files=[data] if rows else [], rows=rows, rejected=rejected)
