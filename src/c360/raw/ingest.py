"""``c360 ingest``: run the connectors of a project and land what is new."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from c360.errors import C360Error
from c360.lake.catalog import open_catalog
from c360.lake.lock import writer_lock
from c360.raw.landing import Lander
from c360.raw.manifest import BatchRecord, Manifest, manifest_table
from c360.raw.recovery import recover
from c360.sources.base import FileConnector, RowConnector
from c360.sources.registry import build_connector

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

    from c360.config import Project


class IngestReporter(Protocol):
    """Where progress goes (a Rich progress bar in the CLI, nothing in tests)."""

    def start(self, source: str, files: int | None) -> None: ...

    def landed(self, source: str, record: BatchRecord | None) -> None: ...


class _Silent:
    def start(self, source: str, files: int | None) -> None:
        pass

    def landed(self, source: str, record: BatchRecord | None) -> None:
        pass


@dataclass
class SourceSummary:
    source: str
    kind: str
    batches: int = 0
    skipped: int = 0
    rows: int = 0
    rejected: int = 0
    bytes: int = 0
    seconds: float = 0.0
    error: str | None = None

    def add(self, record: BatchRecord | None) -> None:
        if record is None:
            self.skipped += 1
            return
        self.batches += 1
        self.rows += record.rows
        self.rejected += record.rejected
        self.bytes += record.bytes


@dataclass
class IngestResult:
    sources: list[SourceSummary]
    restored: int
    orphans_removed: int
    failures: dict[str, C360Error] = field(default_factory=dict)


class IngestError(C360Error):
    """Some sources failed; the others landed. ``result`` says what did."""

    def __init__(self, result: IngestResult) -> None:
        self.result = result
        lines = [f"{len(result.failures)} of {len(result.sources)} sources failed; the others landed:"]
        lines += [f"  {error}" for error in result.failures.values()]
        super().__init__("\n".join(lines), hint="fix those sources, then run `c360 ingest` again")


def ingest(
    project: Project, only: list[str] | None = None, reporter: IngestReporter | None = None
) -> IngestResult:
    """Land every new batch of the chosen sources (all by default), one source after the other.

    A source that fails does not stop the others: batches it landed before the failure stay (each
    is complete), the next run continues from them, and :class:`IngestError` is raised at the end.
    """
    names = project.source_names(only)
    with writer_lock(project.lake_dir, f"c360 ingest of {', '.join(names)}"):
        return ingest_locked(project, open_catalog(project), names, reporter)


def ingest_locked(
    project: Project,
    catalog: SqlCatalog,
    only: list[str] | None = None,
    reporter: IngestReporter | None = None,
) -> IngestResult:
    """Ingest with the lake's writer lock already held (the pipeline holds it for all its steps)."""
    reporter = reporter or _Silent()
    configured = project.settings.sources
    manifest = Manifest(manifest_table(catalog))
    restored, removed = recover(catalog, project.lake_dir, manifest)
    lander = Lander(catalog, project.lake_dir, manifest)
    result = IngestResult([], restored, removed)
    for name in project.source_names(only):
        summary = SourceSummary(name, configured[name].kind)
        started = time.perf_counter()
        try:
            _land_source(lander, build_connector(name, configured[name], project.root), summary, reporter)
        except C360Error as error:
            summary.error = str(error)
            result.failures[name] = error
        summary.seconds = time.perf_counter() - started
        result.sources.append(summary)
    if result.failures:
        raise IngestError(result)
    return result


def _land_source(
    lander: Lander, connector: FileConnector | RowConnector, summary: SourceSummary, reporter: IngestReporter
) -> None:
    name = connector.name
    if isinstance(connector, FileConnector):
        files = connector.files()
        reporter.start(name, len(files))
        for path in files:
            record = lander.land_file(connector, path)
            summary.add(record)
            reporter.landed(name, record)
    else:
        reporter.start(name, None)
        for batch in connector.extract(lander.manifest.state(name)):
            record = lander.land_rows(name, batch)
            summary.add(record)
            reporter.landed(name, record)
