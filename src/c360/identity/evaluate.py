"""Scoring clusters against the simulator's ground truth: pairwise and B-cubed precision and recall.

Everything is counted per cluster, per true person and per (cluster, person) intersection, so no
pair is ever materialized: a cluster of n records holds n(n-1)/2 pairs. Only records the truth
knows are scored; a truth record missing from the assignments (quarantined in stage, say) counts
as a customer of its own, which is what the platform gives it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from c360.errors import C360Error

CLUSTER_COLUMNS = ("cluster", "customer_id", "cluster_key", "cluster_id")
METRICS = ("precision", "recall", "f1", "bcubed_precision", "bcubed_recall", "bcubed_f1")


def _cluster_column(assignments: pa.Table) -> str:
    for name in CLUSTER_COLUMNS:
        if name in assignments.column_names:
            return name
    raise C360Error(
        f"the assignments have no cluster column (columns: {', '.join(assignments.column_names)})",
        hint=f"name the cluster column one of {', '.join(CLUSTER_COLUMNS)}",
    )


def _record_ids(assignments: pa.Table) -> str:
    if "record_id" in assignments.column_names:
        return "CAST(record_id AS VARCHAR)"
    if {"source", "record_key"} <= set(assignments.column_names):
        return "source || ':' || CAST(record_key AS VARCHAR)"
    raise C360Error(
        f"the assignments have neither record_id nor source and record_key "
        f"(columns: {', '.join(assignments.column_names)})",
        hint="pass identity.record_customers or a table with record_id and cluster",
    )


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(assignments: pa.Table, truth_csv: Path | str, seen_only: bool = False) -> dict[str, float]:
    """Pairwise and B-cubed precision, recall and F1 of ``assignments`` against ``truth_csv``.

    ``truth_csv`` has columns source, record_key, person_id (the simulator's
    ``_truth/records.csv``). Also returned: the numbers of records and of true and predicted pairs.
    With ``seen_only``, only truth records present in ``assignments`` are scored: the quality of
    the matching itself, without the records stage quarantined.
    """
    import duckdb

    truth_csv = Path(truth_csv)
    if not truth_csv.is_file():
        raise C360Error(
            f"no ground truth at {truth_csv}",
            hint="point at <simulation dir>/_truth/records.csv (written by `c360 simulate`)",
        )
    cluster = _cluster_column(assignments)
    ids = _record_ids(assignments)
    con = duckdb.connect()
    try:
        con.register("assignments", assignments)
        con.execute(
            "CREATE TEMP TABLE truth AS SELECT source || ':' || record_key AS record_id, person_id "
            "FROM read_csv(?, header = true, all_varchar = true)",
            [str(truth_csv)],
        )
        con.execute(
            f"""CREATE TEMP TABLE labelled AS
            SELECT t.record_id, t.person_id,
                   coalesce(CAST(a.cluster AS VARCHAR), 'alone:' || t.record_id) AS cluster
            FROM truth t {"JOIN" if seen_only else "LEFT JOIN"} (
                SELECT {ids} AS record_id, any_value({cluster}) AS cluster FROM assignments GROUP BY 1
            ) a USING (record_id)"""
        )
        row = con.execute(
            """WITH inter AS (SELECT cluster, person_id, count(*)::DOUBLE AS n FROM labelled GROUP BY ALL),
                    c AS (SELECT cluster, count(*)::DOUBLE AS n FROM labelled GROUP BY ALL),
                    p AS (SELECT person_id, count(*)::DOUBLE AS n FROM labelled GROUP BY ALL)
            SELECT (SELECT count(*) FROM labelled),
                   (SELECT sum(n * (n - 1) / 2) FROM inter),
                   (SELECT sum(n * (n - 1) / 2) FROM c),
                   (SELECT sum(n * (n - 1) / 2) FROM p),
                   (SELECT sum(i.n * i.n / c.n) FROM inter i JOIN c USING (cluster)),
                   (SELECT sum(i.n * i.n / p.n) FROM inter i JOIN p USING (person_id))"""
        ).fetchall()[0]
    finally:
        con.close()
    records, both, predicted, true = (int(row[0]), row[1] or 0.0, row[2] or 0.0, row[3] or 0.0)
    precision = both / predicted if predicted else 1.0
    recall = both / true if true else 1.0
    b_precision = (row[4] or 0.0) / records if records else 1.0
    b_recall = (row[5] or 0.0) / records if records else 1.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "bcubed_precision": b_precision,
        "bcubed_recall": b_recall,
        "bcubed_f1": _f1(b_precision, b_recall),
        "records": records,
        "true_pairs": int(true),
        "predicted_pairs": int(predicted),
    }
