"""``c360 identity``: resolve records to customers, explain, override, dedupe files, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import click

from c360.commands.options import project_dir_option


@click.group("identity")
def identity_group() -> None:
    """Which source records are the same person: stable customer ids, graph, golden record."""


@identity_group.command("run")
@click.option("--full", is_flag=True, help="Re-match every record instead of only records not assigned yet.")
@project_dir_option
def identity_run(full: bool, directory: Path) -> None:
    """Resolve the staged person records to stable customer ids (incremental when it can)."""
    from c360.config import load_project
    from c360.console import console, print_identity_summary
    from c360.identity.runner import run_identity

    project = load_project(directory)
    with console.status("identity: starting…") as status:
        summary = run_identity(project, lambda step: status.update(f"identity: {step}…"), full=full)
    print_identity_summary(summary)


@identity_group.command("train")
@project_dir_option
def identity_train(directory: Path) -> None:
    """Retrain the match model by EM on the current person records and put it in use.

    A model that does not converge is reported with its moving parameters; the previous one stays.
    """
    import duckdb

    from c360.config import load_project
    from c360.console import console, out
    from c360.identity.records import register_person_records
    from c360.identity.runner import ModelStore
    from c360.lake.catalog import open_catalog
    from c360.lake.lock import writer_lock

    project = load_project(directory)
    with writer_lock(project.lake_dir, "c360 identity train"), console.status("training the match model…"):
        con = duckdb.connect()
        try:
            records = register_person_records(con, open_catalog(project))
            _, version = ModelStore(project.lake_dir).train(con, records)
        finally:
            con.close()
    out.print(
        f"model {version} in use ({project.lake_dir / 'identity' / 'model.json'}); "
        "run `c360 identity run --full` to re-match every record with it"
    )


@identity_group.command("explain")
@click.argument("ident")
@click.option("--format", "fmt", type=click.Choice(["tree", "json"]), default="tree", show_default=True)
@project_dir_option
def identity_explain(ident: str, fmt: str, directory: Path) -> None:
    """Why records are one customer: IDENT is a customer id or a record id (source:key)."""
    from c360.config import load_project
    from c360.console import out
    from c360.identity.explain import as_json, as_tree, explain
    from c360.lake.catalog import open_catalog

    explanation = explain(open_catalog(load_project(directory)), ident)
    if fmt == "json":
        click.echo(json.dumps(as_json(explanation), default=str))
    else:
        out.print(as_tree(explanation))


def _override(kind: str, record_a: str, record_b: str, note: str, directory: Path) -> None:
    from c360.config import load_project
    from c360.console import out
    from c360.identity.overrides import record_override
    from c360.lake.catalog import open_catalog
    from c360.lake.lock import writer_lock

    project = load_project(directory)
    with writer_lock(project.lake_dir, f"c360 identity {kind}"):
        override = record_override(open_catalog(project), kind, record_a, record_b, note)
    out.print(
        f"{kind} {override.record_a} {override.record_b} recorded in identity.overrides; "
        "it applies from the next `c360 identity run` (or `c360 run`) on, and on every rebuild"
    )


@identity_group.command("link")
@click.argument("record_a")
@click.argument("record_b")
@click.option("--note", default="", help="Why (kept with the override).")
@project_dir_option
def identity_link(record_a: str, record_b: str, note: str, directory: Path) -> None:
    """Always put records RECORD_A and RECORD_B in the same customer."""
    _override("link", record_a, record_b, note, directory)


@identity_group.command("unlink")
@click.argument("record_a")
@click.argument("record_b")
@click.option("--note", default="", help="Why (kept with the override).")
@project_dir_option
def identity_unlink(record_a: str, record_b: str, note: str, directory: Path) -> None:
    """Never put records RECORD_A and RECORD_B in the same customer (cuts the weakest links)."""
    _override("unlink", record_a, record_b, note, directory)


def _mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    from c360.errors import C360Error

    mapping = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise C360Error(
                f"cannot read --map {pair}", hint="write it as c360_field=column, e.g. email=mail"
            )
        mapping[field.strip()] = column.strip()
    return mapping


@identity_group.command("dedupe")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--id", "id_column", required=True, help="Column holding each row's identifier.")
@click.option(
    "--map",
    "mappings",
    multiple=True,
    help="c360_field=column for a column whose name differs (first_name, last_name, email, phone, ...).",
)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
def identity_dedupe(
    files: tuple[Path, ...], id_column: str, mappings: tuple[str, ...], out_path: Path
) -> None:
    """Find the same people in any CSV or Parquet person tables (several files: linked across them).

    Writes one row per input row: its id (and file) and its cluster id.
    """
    from c360.console import out
    from c360.identity.dedupe import dedupe

    counts = dedupe(list(files), id_column, _mapping(mappings), out_path)
    out.print(
        f"{counts['records']:,} records → {counts['clusters']:,} clusters "
        f"({counts['edges']:,} edges); written to {out_path}"
    )


@identity_group.command("evaluate")
@click.option(
    "--sim",
    "sim_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory written by `c360 simulate`; default: the project's simulated sources (demo layout).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@project_dir_option
def identity_evaluate(sim_dir: Path | None, fmt: str, directory: Path) -> None:
    """Score identity.record_customers against the simulator's ground truth (pairwise and B-cubed)."""
    from c360.config import load_project
    from c360.console import print_identity_evaluation
    from c360.identity.scoring import score_resolution

    report, truth = score_resolution(load_project(directory), sim_dir)
    if fmt == "json":
        click.echo(json.dumps(report))
    else:
        print_identity_evaluation(report, truth)
