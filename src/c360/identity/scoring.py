"""Score the lake's resolution (identity.record_customers) against a simulator's ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from c360.errors import C360Error
from c360.identity.evaluate import evaluate
from c360.lake.catalog import open_catalog
from c360.lake.tables import load_table, read_arrow

if TYPE_CHECKING:
    from c360.config import Project


def default_sim_dir(directory: Path) -> Path:
    """Where a project keeps its simulated sources: ``sources/`` in the demo layout."""
    for candidate in (directory / "sources", directory / "sim", directory):
        if (candidate / "_truth" / "records.csv").is_file():
            return candidate
    raise C360Error(
        f"no simulated ground truth found under {directory}",
        hint="pass --sim DIR, the directory written by `c360 simulate` (it holds _truth/records.csv)",
    )


def score_resolution(project: Project, sim_dir: Path | None = None) -> tuple[dict[str, float], Path]:
    """Pairwise and B-cubed precision, recall and F1 of the current assignments, and the truth file."""
    table = load_table(open_catalog(project), "identity.record_customers")
    if table is None:
        raise C360Error("no identity.record_customers in the lake yet", hint="run `c360 identity run` first")
    truth = (sim_dir or default_sim_dir(project.root)) / "_truth" / "records.csv"
    return evaluate(read_arrow(table).select(["record_id", "customer_id"]), truth), truth
