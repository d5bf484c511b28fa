"""``c360 report``: the KPIs and the data-quality figures as one HTML file that opens with no server."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from c360.commands.options import project_dir_option

DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.command("report")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    required=True,
    help="The HTML file to write (self-contained: styles, charts and script inline).",
)
@project_dir_option
@click.option("--from", "start", type=DAY, help="First day shown (YYYY-MM-DD); default: the first day.")
@click.option("--to", "end", type=DAY, help="Last day shown (YYYY-MM-DD); default: the last day.")
@click.option(
    "--category",
    help="Only this category code and the codes under it ('electronics' keeps 'electronics.smartphone').",
)
def report_command(
    out: Path, directory: Path, start: datetime | None, end: datetime | None, category: str | None
) -> None:
    """Write the e-commerce KPIs, customer segments and data quality to one HTML file."""
    from c360.config import load_project
    from c360.console import console
    from c360.errors import C360Error
    from c360.lake.catalog import open_catalog
    from c360.report.data import Filters
    from c360.report.html import render

    filters = Filters(start.date() if start else None, end.date() if end else None, category or None)
    project = load_project(directory)
    with console.status("reading the KPI and quality tables"):
        page = render(open_catalog(project), filters)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise C360Error(
            f"cannot write the report to {out}: {exc.strerror}", hint="choose another --out"
        ) from None
    size = len(page.encode()) / 1024
    click.echo(f"wrote {out} ({size:.0f} KB, {filters.describe()}); open it in a browser")
