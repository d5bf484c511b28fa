"""Identity resolution at a given number of person records: training, matching, clustering, F1 vs truth.

Set-up, not timed: ``c360 simulate`` at the size that gives about the requested number of person
records (about 4.8 per customer), then ``c360 ingest`` and ``c360 stage`` of the sources that name
people; the person records are also saved as Parquet. Then, each in a fresh process:

- train: the match model on every record (EM, u sampling), saved as JSON;
- end to end with the saved model: person records read from the lake, edges (rules and the model),
  connected components; pairwise and B-cubed F1 against ``_truth/records.csv``;
- incremental: a batch of 10,000 new records matched against all the others;
- beside it, Splink with its standard settings (the comparison library's defaults, the usual
  blocking rules, its own clustering) on the same records: time and F1.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.common import Figure, measure, timed
from c360.demo import person_sources_config

SEED = 5
RECORDS_PER_CUSTOMER = 4.8
THRESHOLD = 0.9
BATCH = 10_000
TARGET_END_TO_END = 120.0
TARGET_INCREMENTAL = 10.0
TARGET_F1 = 0.97


def prepare(records: int, parent: Path) -> Path:
    """A project whose stage holds about ``records`` person records, and their Parquet copy."""
    directory = parent / f"identity-{records}"
    customers = max(100, round(records / RECORDS_PER_CUSTOMER))
    run = [sys.executable, "-m", "c360"]
    subprocess.run([*run, "simulate", "--customers", str(customers), "--seed", str(SEED), "--out",
                    str(directory / "sources")], check=True, capture_output=True)  # fmt: skip
    (directory / "c360.toml").write_text(person_sources_config(directory / "sources"), encoding="utf-8")
    for step in ("ingest", "stage"):
        subprocess.run([*run, step], cwd=directory, check=True, capture_output=True)
    import pyarrow.parquet as pq

    from c360.identity.records import person_records
    from c360.lake.catalog import open_lake_catalog

    pq.write_table(person_records(open_lake_catalog(directory / "lake")), directory / "records.parquet")
    return directory


def _load(con: object, directory: str, name: str = "records") -> None:
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{directory}/records.parquet')")


def _scores(con: object, clusters: str, truth: Path) -> dict[str, float]:
    from c360.identity.evaluate import evaluate

    assignments = con.sql(f"SELECT record_id, cluster_key AS cluster FROM {clusters}").to_arrow_table()
    return {
        **evaluate(assignments, truth),
        "seen_f1": evaluate(assignments, truth, seen_only=True)["f1"],
    }


def train_model(directory: str) -> tuple[float, int]:
    import duckdb

    from c360.identity.model import train

    con = duckdb.connect()
    _load(con, directory)

    def run() -> int:
        model = train(con, "records")
        (Path(directory) / "model.json").write_text(model.to_json(), encoding="utf-8")
        return model.records

    return timed(run)


def end_to_end(directory: str) -> tuple[float, dict[str, float]]:
    """Lake -> person records -> edges -> clusters with the saved model; the parts and the scores."""
    import duckdb

    from c360.identity.clusters import connected_components
    from c360.identity.matching import find_edges
    from c360.identity.model import MatchModel
    from c360.identity.records import register_person_records
    from c360.lake.catalog import open_lake_catalog

    con = duckdb.connect()
    model = MatchModel.from_json((Path(directory) / "model.json").read_text(encoding="utf-8"))
    catalog = open_lake_catalog(Path(directory) / "lake")
    records_s, records = timed(lambda: register_person_records(con, catalog))
    edges_s, edges = timed(lambda: find_edges(con, records, model))
    cluster_s, clusters = timed(lambda: connected_components(con, records, edges, THRESHOLD))
    counts = con.execute(
        f"SELECT (SELECT count(*) FROM {records}), (SELECT count(*) FROM {edges})"
    ).fetchall()
    extra = {"records_s": records_s, "edges_s": edges_s, "cluster_s": cluster_s,
             "records": counts[0][0], "edges": counts[0][1],
             **_scores(con, clusters, Path(directory) / "sources" / "_truth" / "records.csv")}  # fmt: skip
    return records_s + edges_s + cluster_s, extra


def incremental(directory: str) -> tuple[float, int]:
    """Edges for BATCH new records against all the others (the others' edges already exist)."""
    import duckdb

    from c360.identity.matching import find_edges
    from c360.identity.model import MatchModel

    con = duckdb.connect()
    model = MatchModel.from_json((Path(directory) / "model.json").read_text(encoding="utf-8"))
    _load(con, directory, "everyone")
    con.execute(f"CREATE TABLE batch AS SELECT * FROM everyone ORDER BY hash(record_id) LIMIT {BATCH}")
    con.execute(
        "CREATE TABLE existing AS SELECT * FROM everyone WHERE record_id NOT IN (SELECT record_id FROM batch)"
    )
    seconds, edges = timed(lambda: find_edges(con, "existing", model, new="batch"))
    return seconds, con.execute(f"SELECT count(*) FROM {edges}").fetchall()[0][0]


def splink_standard(directory: str) -> tuple[float, dict[str, float]]:
    """Splink as its documentation sets it up: library comparisons, common blocking rules, EM."""
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from c360.identity.model import SEED, quiet_splink

    quiet_splink()
    con = duckdb.connect()
    _load(con, directory)
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("birth_date", input_is_string=False),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("address", 2),
            cl.ExactMatch("city").configure(term_frequency_adjustments=True),
            cl.ExactMatch("client_id"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "last_name"),
            block_on("email"),
            block_on("phone"),
            block_on("client_id"),
            block_on("birth_date"),
        ],
        retain_matching_columns=False,
    )

    def run() -> tuple[str, float, float, float]:
        linker = Linker(DuckDBAPI(connection=con).register("records"), settings, log_level=None)
        train_s, _ = timed(lambda: _splink_train(linker, block_on, SEED))
        predict_s, pairs = timed(lambda: linker.inference.predict(threshold_match_probability=THRESHOLD))
        cluster_s, clusters = timed(
            lambda: linker.clustering.cluster_pairwise_predictions_at_threshold(pairs, THRESHOLD)
        )
        return clusters.physical_name, train_s, predict_s, cluster_s

    seconds, (clusters, train_s, predict_s, cluster_s) = timed(run)
    con.execute(f"CREATE VIEW splink_clusters AS SELECT record_id, cluster_id AS cluster_key FROM {clusters}")
    truth = Path(directory) / "sources" / "_truth" / "records.csv"
    scores = _scores(con, "splink_clusters", truth)
    return seconds, {"train_s": train_s, "predict_s": predict_s, "cluster_s": cluster_s, **scores}


def _splink_train(linker: object, block_on: object, seed: int) -> None:
    linker.training.estimate_probability_two_random_records_match([block_on("email")], recall=0.6)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "last_name"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("email"))


def run_identity(sizes: list[int], work: Path, repeat: int) -> list[Figure]:
    figures: list[Figure] = []
    for size in sizes:
        directory = prepare(size, work)
        train_s, train_peak, trained_on = measure(train_model, str(directory), repeat=repeat)
        total_s, e2e_peak, e2e = measure(end_to_end, str(directory), repeat=repeat)
        batch_s, batch_peak, batch_edges = measure(incremental, str(directory), repeat=repeat)
        splink_s, splink_peak, peer = measure(splink_standard, str(directory), repeat=repeat)
        label = f"{e2e['records']:,} person records"
        big = e2e["records"] >= 900_000
        met = lambda ok: "met" if ok else "MISSED"  # noqa: E731
        figures += [
            Figure("identity.train", label, "seconds", train_s, "s",
                   f"EM on {trained_on:,} matchable records"),
            Figure("identity.train", label, "peak_rss", train_peak / 2**20, "MiB"),
            Figure("identity.end_to_end", label, "seconds", total_s, "s",
                   f"target ≤ {TARGET_END_TO_END:.0f} s at 1M: {met(total_s <= TARGET_END_TO_END)}"
                   if big else ""),
            Figure("identity.end_to_end", label, "peak_rss", e2e_peak / 2**20, "MiB"),
            Figure("identity.records", label, "seconds", e2e["records_s"], "s", "stage -> person records"),
            Figure("identity.prediction", label, "seconds", e2e["edges_s"], "s", f"{e2e['edges']:,} edges"),
            Figure("identity.clustering", label, "seconds", e2e["cluster_s"], "s"),
            Figure("identity.incremental", label, "seconds", batch_s, "s",
                   f"{BATCH:,} new records, {batch_edges:,} edges; target ≤ {TARGET_INCREMENTAL:.0f} s"
                   + (f" at 1M: {met(batch_s <= TARGET_INCREMENTAL)}" if big else "")),
            Figure("identity.incremental", label, "peak_rss", batch_peak / 2**20, "MiB"),
            Figure("identity.quality", label, "pairwise_f1", e2e["f1"], "",
                   f"P {e2e['precision']:.4f} R {e2e['recall']:.4f}; target ≥ {TARGET_F1}: "
                   f"{met(e2e['f1'] >= TARGET_F1)}"),
            Figure("identity.quality", label, "pairwise_f1_seen", e2e["seen_f1"], "",
                   "records stage quarantined left out"),
            Figure("identity.quality", label, "bcubed_f1", e2e["bcubed_f1"], "",
                   f"P {e2e['bcubed_precision']:.4f} R {e2e['bcubed_recall']:.4f}"),
            Figure("identity.splink_standard", label, "seconds", splink_s, "s",
                   f"train {peer['train_s']:.1f} s, predict {peer['predict_s']:.1f} s, "
                   f"cluster {peer['cluster_s']:.1f} s; c360 train + end to end / this: "
                   f"{(train_s + total_s) / splink_s:.2f}"),
            Figure("identity.splink_standard", label, "peak_rss", splink_peak / 2**20, "MiB"),
            Figure("identity.splink_standard", label, "pairwise_f1", peer["f1"], "",
                   f"P {peer['precision']:.4f} R {peer['recall']:.4f}; B-cubed F1 {peer['bcubed_f1']:.4f}"),
            Figure("identity.splink_standard", label, "pairwise_f1_seen", peer["seen_f1"], "",
                   "records stage quarantined left out"),
        ]  # fmt: skip
    return figures
