"""The ``c360`` command: one thin function per verb.

Heavy libraries (pyiceberg, DuckDB, pyarrow) are imported inside the verbs, so that
``c360 --help`` answers at once.
"""

from __future__ import annotations

import importlib
import sys
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import click

from c360 import __version__
from c360.commands.options import FORMATS, project_dir_option


class LazyGroup(click.Group):
    """A group whose bigger sub-groups live in ``c360.commands.<name>`` and load only when used,
    so that ``c360 --help`` stays fast and each area keeps its verbs in its own module."""

    lazy: ClassVar[dict[str, str]] = {
        "stream": "c360.commands.stream:stream_group",
        "identity": "c360.commands.identity:identity_group",
        "report": "c360.commands.report:report_command",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attribute = self.lazy[name].split(":")
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="c360")
def cli() -> None:
    """c360: a Customer 360 platform on one machine.

    Lands every source system in an Iceberg lake (raw → stage → identity → analytics) and
    serves one profile per customer. Start with `c360 demo`, or `c360 init DIR` for your own data.
    """


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing c360.toml.")
def init(directory: Path, force: bool) -> None:
    """Create a project in DIRECTORY with a commented starter c360.toml."""
    from c360.project import init_project

    path = init_project(directory, force=force)
    click.echo(f"wrote {path}; add your sources to it, then run `c360 ingest --dir {directory}`")


@cli.group(invoke_without_command=True)
@click.option("--customers", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True, help="Same seed, same bytes.")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("sim"), show_default=True
)
@click.pass_context
def simulate(ctx: click.Context, customers: int, seed: int, out: Path) -> None:
    """Generate every source system of the reference bank and store, with ground truth in _truth/.

    The CRM API server and the transactions database writer are subcommands.
    """
    if ctx.invoked_subcommand is not None:
        return
    from c360.console import simulate_with_progress

    simulate_with_progress(customers, seed, out)


@simulate.command("crm-server")
@click.option(
    "--records",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="crm/clients.jsonl written by `c360 simulate`.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--no-chaos", is_flag=True, help="Never answer 429/500 or slowly.")
def crm_server(records: Path, host: str, port: int, no_chaos: bool) -> None:
    """Serve the simulated CRM as a paginated JSON API (Ctrl-C stops it)."""
    from c360.simulate.crm_server import ChaosSettings, run_server

    click.echo(f"CRM API on http://{host}:{port}/v1/clients (Ctrl-C to stop)")
    run_server(records, host, port, None if no_chaos else ChaosSettings())


@simulate.command("transactions")
@click.option("--db", "url", required=True, help="postgresql://user@host:port/db or sqlite:///file.db")
@click.option(
    "--accounts",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="A headerless accounts CSV (account_id first), or a folder of them, e.g. sim/accounts.",
)
@click.option("--rows", type=click.IntRange(min=0), default=100_000, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--follow", is_flag=True, help="Keep inserting rows until interrupted.")
@click.option("--rate", type=float, default=100.0, show_default=True, help="Rows per second with --follow.")
def transactions(url: str, accounts: Path, rows: int, seed: int, follow: bool, rate: float) -> None:
    """Write core-banking transactions into a database, once or continuously."""
    from c360.simulate.transactions_db import run

    written = run(url, accounts, rows, seed, follow, rate)
    click.echo(f"{written:,} transactions written to {url}")


@cli.command()
@click.argument("sources", nargs=-1)
@project_dir_option
def ingest(sources: tuple[str, ...], directory: Path) -> None:
    """Land what is new in every source (or only SOURCES) in the raw zone."""
    from c360.config import load_project
    from c360.console import ingest_with_progress

    ingest_with_progress(load_project(directory), list(sources) or None)


@cli.command("stage")
@click.argument("sources", nargs=-1)
@project_dir_option
def stage_command(sources: tuple[str, ...], directory: Path) -> None:
    """Type and validate every raw batch not staged yet: stage.<source> or quarantine.<source>."""
    from c360.config import load_project
    from c360.console import stage_with_progress

    stage_with_progress(load_project(directory), list(sources) or None)


@cli.command("run")
@project_dir_option
@click.option("--every", default=None, help="Keep running on this schedule, e.g. 15m or 1h (Ctrl-C stops).")
def run_command(directory: Path, every: str | None) -> None:
    """Run every step in order (ingest, stage, build) and record the run in ops.runs."""
    from c360.config import load_project
    from c360.console import run_on_schedule, run_with_progress
    from c360.pipeline import parse_interval

    project = load_project(directory)
    if every is None:
        run_with_progress(project)
    else:
        run_on_schedule(project, parse_interval(every))


@cli.command("runs")
@project_dir_option
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
def runs_command(directory: Path, limit: int) -> None:
    """List the latest pipeline runs: steps, rows, seconds, status."""
    from c360.config import load_project
    from c360.console import print_arrow
    from c360.pipeline import list_runs

    print_arrow(list_runs(load_project(directory), limit), "table", limit)


@cli.command("publish")
@project_dir_option
def publish_command(directory: Path) -> None:
    """Publish the latest customer_360 and every identifier to the profile store (c360 run does it too)."""
    from c360.config import load_project
    from c360.serve.store import publish

    result = publish(load_project(directory))
    click.echo(
        f"published version {result.version}: {result.customers:,} customers, {result.identifiers:,} "
        f"identifiers (snapshot {result.snapshot_date}) in {result.seconds:.1f} s"
    )


@cli.command("serve")
@project_dir_option
@click.option("--host", default=None, help="Default: serve.host in c360.toml (127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Default: serve.port (8360).")
def serve_command(directory: Path, host: str | None, port: int | None) -> None:
    """Serve profiles, search, SQL and segments over HTTP (API docs at /docs)."""
    from c360.config import load_project, role_table
    from c360.serve.app import serve

    project = load_project(directory)
    settings = project.settings.serve
    serve(
        project,
        host=host or settings.host,
        port=port or settings.port,
        roles=role_table(settings),
        segments=project.settings.segments,
        sql_timeout_seconds=settings.sql_timeout_seconds,
    )


@cli.group("keys")
def keys_group() -> None:
    """API keys: each has a role that decides PII access and SQL (see [serve.roles] in c360.toml)."""


@keys_group.command("create")
@click.option("--role", required=True, help="admin, analyst, app, or a role of [serve.roles].")
@project_dir_option
def keys_create(role: str, directory: Path) -> None:
    """Create an API key; it is printed once and stored only as a salted hash."""
    from c360.config import load_project, role_table
    from c360.serve.auth import create_key

    project = load_project(directory)
    click.echo(create_key(project, role, role_table(project.settings.serve)))
    click.echo("keep it now: it cannot be shown again", err=True)


@keys_group.command("revoke")
@click.argument("key_id")
@project_dir_option
def keys_revoke(key_id: str, directory: Path) -> None:
    """Revoke the key whose id is KEY_ID (the part after c360_ in the key)."""
    from c360.config import load_project
    from c360.errors import C360Error
    from c360.serve.auth import revoke_key
    from c360.serve.store import store_path

    if not revoke_key(store_path(load_project(directory)), key_id):
        raise C360Error(f"no key with id {key_id}", hint="the id is the part between c360_ and the next _")
    click.echo(f"revoked {key_id}")


@cli.command("build")
@click.argument("models", nargs=-1)
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Rebuild incremental models whole instead of only the days new stage batches changed.",
)
@project_dir_option
def build_command(models: tuple[str, ...], full_refresh: bool, directory: Path) -> None:
    """Build the SQL models (all, or MODELS and what they need) as Iceberg tables, with their tests."""
    from c360.config import load_project
    from c360.console import build_with_progress

    build_with_progress(load_project(directory), list(models) or None, full_refresh=full_refresh)


@cli.command("lineage")
@click.argument("column")
@project_dir_option
def lineage_command(column: str, directory: Path) -> None:
    """Show where COLUMN (zone.table.column) comes from, down to the raw columns."""
    from c360.config import load_project
    from c360.modeling import lineage, render_lineage
    from c360.stage.contract import raw_origins

    project = load_project(directory)
    tree = lineage(project, column, stage_source=lambda table, col: raw_origins(project, table, col))
    click.echo(render_lineage(tree))


@cli.command("catalog")
@click.argument("table")
@project_dir_option
def catalog_command(table: str, directory: Path) -> None:
    """Describe TABLE (zone.table): its columns with types and descriptions, grain, inputs, versions."""
    from c360.config import load_project
    from c360.modeling import describe, render_description

    click.echo(render_description(describe(load_project(directory), table)))


@cli.command()
@click.argument("query")
@project_dir_option
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Rows printed at most in table format.",
)
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
    default=None,
    help="Read every table as it was at this time (local time; e.g. 2026-11-22T09:30:00).",
)
def sql(query: str, directory: Path, fmt: str, limit: int, as_of: datetime | None) -> None:
    """Run a SQL QUERY with DuckDB over lake tables named <zone>.<table> (e.g. raw.batches)."""
    from c360.config import load_project
    from c360.console import print_arrow
    from c360.lake.catalog import open_catalog
    from c360.lake.query import run_query

    project = load_project(directory)
    print_arrow(run_query(open_catalog(project), query, as_of), fmt, limit)


@cli.command()
@click.option("--customers", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("c360-demo"),
    show_default=True,
    help="Where the demo project (data, lake, c360.toml) is made.",
)
def demo(customers: int, seed: int, directory: Path) -> None:
    """Run the whole platform end to end on simulated data, embedded (nothing to start)."""
    from c360.demo import run_demo

    run_demo(directory, customers, seed)


def main() -> None:
    from c360.errors import C360Error

    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except C360Error as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(exc.exit_code)
