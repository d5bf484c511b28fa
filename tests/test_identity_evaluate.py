"""Scoring clusters against ground truth: hand-computed cases and a brute-force cross-check."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pyarrow as pa
import pytest

from c360.errors import C360Error
from c360.identity.evaluate import evaluate


def _truth(path: Path, people: dict[str, list[str]]) -> Path:
    lines = ["source,record_key,person_id"]
    for person, records in people.items():
        lines += [f"crm,{record},{person}" for record in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _assignments(clusters: dict[str, list[str]]) -> pa.Table:
    rows = [(f"crm:{r}", cluster) for cluster, records in clusters.items() for r in records]
    return pa.table({"record_id": [r for r, _ in rows], "cluster": [c for _, c in rows]})


def test_hand_computed_pairwise_and_bcubed(tmp_path: Path) -> None:
    truth = _truth(tmp_path / "records.csv", {"A": ["1", "2", "3"], "B": ["4", "5"]})
    scores = evaluate(_assignments({"x": ["1", "2"], "y": ["3", "4", "5"]}), truth)
    # true pairs 12 13 23 45; predicted 12 34 35 45; both 12 45
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx(0.5)
    # per record |C∩T|/|C|: 1, 1, 1/3, 2/3, 2/3 ; |C∩T|/|T|: 2/3, 2/3, 1/3, 1, 1
    assert scores["bcubed_precision"] == pytest.approx((1 + 1 + 1 / 3 + 2 / 3 + 2 / 3) / 5)
    assert scores["bcubed_recall"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1) / 5)
    assert (scores["records"], scores["true_pairs"], scores["predicted_pairs"]) == (5, 4, 4)


def test_perfect_and_missing_records(tmp_path: Path) -> None:
    truth = _truth(tmp_path / "records.csv", {"A": ["1", "2"], "B": ["3", "4"]})
    perfect = evaluate(_assignments({"a": ["1", "2"], "b": ["3", "4"]}), truth)
    assert perfect["f1"] == 1.0 and perfect["bcubed_f1"] == 1.0
    # record 4 never assigned: it counts as its own customer, unless only seen records are scored
    partial = _assignments({"a": ["1", "2"], "b": ["3"]})
    assert evaluate(partial, truth)["recall"] == pytest.approx(0.5)
    assert evaluate(partial, truth, seen_only=True)["f1"] == 1.0


def test_source_and_record_key_columns_are_accepted(tmp_path: Path) -> None:
    truth = _truth(tmp_path / "records.csv", {"A": ["1", "2"]})
    table = pa.table({"source": ["crm", "crm"], "record_key": ["1", "2"], "customer_id": [7, 7]})
    assert evaluate(table, truth)["f1"] == 1.0


def test_matches_a_brute_force_count_of_pairs(tmp_path: Path) -> None:
    rng = random.Random(5)
    records = [str(i) for i in range(300)]
    person = {r: f"P{rng.randrange(120)}" for r in records}
    cluster = {r: f"C{rng.randrange(100)}" if rng.random() < 0.7 else person[r] for r in records}
    people: dict[str, list[str]] = {}
    for r, p in person.items():
        people.setdefault(p, []).append(r)
    clusters: dict[str, list[str]] = {}
    for r, c in cluster.items():
        clusters.setdefault(c, []).append(r)
    scores = evaluate(_assignments(clusters), _truth(tmp_path / "records.csv", people))
    pairs = list(itertools.combinations(records, 2))
    true = {p for p in pairs if person[p[0]] == person[p[1]]}
    predicted = {p for p in pairs if cluster[p[0]] == cluster[p[1]]}
    assert scores["precision"] == pytest.approx(len(true & predicted) / len(predicted))
    assert scores["recall"] == pytest.approx(len(true & predicted) / len(true))


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(C360Error, match="no ground truth"):
        evaluate(_assignments({"a": ["1"]}), tmp_path / "missing.csv")
    truth = _truth(tmp_path / "records.csv", {"A": ["1"]})
    with pytest.raises(C360Error, match="no cluster column"):
        evaluate(pa.table({"record_id": ["crm:1"]}), truth)
