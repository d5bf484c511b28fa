"""Clustering, stable ids, overrides, golden record and incremental runs, on hand-built records and
edges (the matching engine is tested on its own; here the edges are given so that every id can be
predicted)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from c360.errors import C360Error
from c360.identity.clusters import assign_ids, component_labels, connected_components, local_components
from c360.identity.errors import ModelDidNotConverge
from c360.identity.model import MatchModel
from c360.identity.overrides import Override, latest_per_pair
from c360.identity.records import RECORDS_SCHEMA
from c360.identity.runner import ModelStore, Resolution, _edge_finder, resolve
from c360.identity.settings import IdentitySettings

SETTINGS = IdentitySettings()
T0 = datetime(2024, 1, 1, tzinfo=UTC)
BORN = date(1990, 5, 1)


def record(record_id: str, **values: object) -> dict[str, object]:
    source, _, key = record_id.partition(":")
    row = {name: None for name in RECORDS_SCHEMA.names}
    row.update(record_id=record_id, source=source, record_key=key, **values)
    return row


# Who is who: ann (crm:1, retail:10, store:20), her twin amy (crm:2, same birth date and address),
# bob (crm:3, web:30 through the login map), a visitor with no identifier at all (web:31).
RECORDS = [
    record(
        "crm:1", client_id=1, first_name="ann", last_name="lee", email="ann@x.io", birth_date=BORN,
        address="1 main st", city="springfield", country="US", updated_at=datetime(2023, 1, 1),
    ),
    record(
        "crm:2", client_id=2, first_name="amy", last_name="lee", email="amy@x.io", birth_date=BORN,
        address="1 main st", city="springfield", country="US", updated_at=datetime(2023, 1, 1),
    ),
    record("crm:3", client_id=3, first_name="bob", last_name="ray", email="bob@y.io", country="US"),
    record(
        "retail_orders:10", first_name="ann", last_name="smith", email="ann@x.io", city="shelbyville",
        country="CA", updated_at=datetime(2024, 6, 1),
    ),
    record(
        "store_users:20", first_name="annie", last_name="smith", email="ann@x.io", country="CA",
        updated_at=datetime(2024, 2, 1),
    ),
    record("web_visitors:30", client_id=3),
    record("web_visitors:31"),
]  # fmt: skip
EDGES = [
    ("crm:1", "retail_orders:10", "email", 1.0),
    ("crm:1", "store_users:20", "email", 1.0),
    ("crm:3", "web_visitors:30", "web_login", 1.0),
    ("crm:1", "crm:2", "model", 0.4),  # the twins: similar but below the threshold
]


def edge_table(edges: list[tuple[str, str, str, float]]) -> pa.Table:
    return pa.table(
        {
            "record_id_l": [e[0] for e in edges],
            "record_id_r": [e[1] for e in edges],
            "rule": [e[2] for e in edges],
            "match_probability": [e[3] for e in edges],
            "evidence": [f'{{"rule": "{e[2]}"}}' for e in edges],
        }
    )


class FakeMatcher:
    """find_edges over a fixed list of edges; with ``new``, only pairs touching a new record."""

    def __init__(self, edges: list[tuple[str, str, str, float]]) -> None:
        self.edges = edges
        self.calls: list[str | None] = []

    def __call__(self, con: duckdb.DuckDBPyConnection, records: str, new: str | None) -> str:
        self.calls.append(new)
        con.register("__fake_edges", edge_table(self.edges))
        touching = f"WHERE record_id_l IN (SELECT record_id FROM {new}) OR record_id_r IN " if new else ""
        touching += f"(SELECT record_id FROM {new})" if new else ""
        con.execute(f"CREATE OR REPLACE TABLE fake_edges AS SELECT * FROM __fake_edges {touching}")
        con.unregister("__fake_edges")
        return "fake_edges"


def records_con(rows: list[dict[str, object]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("__rows", pa.Table.from_pylist(rows, schema=RECORDS_SCHEMA))
    con.execute("CREATE TABLE records AS SELECT * FROM __rows")
    con.unregister("__rows")
    return con


def run(
    rows: list[dict[str, object]],
    edges: list[tuple[str, str, str, float]],
    previous: Resolution | None = None,
    overrides: list[Override] | None = None,
    incremental: bool = False,
    first_new_id: int = 1,
) -> Resolution:
    con = records_con(rows)
    return resolve(
        con,
        "records",
        FakeMatcher(edges),
        previous.assignments if previous is not None else None,
        overrides or [],
        SETTINGS,
        incremental=incremental,
        first_new_id=first_new_id,
    )


def ids(resolution: Resolution) -> dict[str, int]:
    return dict(zip(*resolution.assignments.to_pydict().values(), strict=True))


def groups(resolution: Resolution) -> set[frozenset[str]]:
    by_id: dict[int, set[str]] = {}
    for record_id, customer_id in ids(resolution).items():
        by_id.setdefault(customer_id, set()).add(record_id)
    return {frozenset(members) for members in by_id.values()}


def test_component_labels_find_the_smallest_node_of_each_component() -> None:
    # a long chain reaches its head in a few passes; 5 and 6 are alone
    left = np.array([4, 3, 2, 1, 8, 7])
    right = np.array([3, 2, 1, 0, 9, 8])
    assert component_labels(10, left, right).tolist() == [0, 0, 0, 0, 0, 5, 6, 7, 7, 7]


def test_connected_components_keeps_every_record_and_respects_the_threshold() -> None:
    con = records_con(RECORDS)
    con.register("edges", edge_table(EDGES))
    connected_components(con, "records", "edges", 0.9)
    clusters = dict(con.execute("SELECT record_id, cluster_key FROM clusters").fetchall())
    assert len(clusters) == len(RECORDS)
    assert clusters["retail_orders:10"] == clusters["store_users:20"] == clusters["crm:1"] == "crm:1"
    assert clusters["crm:2"] == "crm:2"  # the twin's 0.4 edge does not join
    assert clusters["web_visitors:31"] == "web_visitors:31"  # no identifier: a customer of its own
    connected_components(con, "records", "edges", 0.3)
    assert con.execute("SELECT cluster_key FROM clusters WHERE record_id = 'crm:2'").fetchall() == [
        ("crm:1",)
    ]


def test_first_run_gives_one_id_per_person_and_says_why() -> None:
    first = run(RECORDS, EDGES)
    assert groups(first) == {
        frozenset({"crm:1", "retail_orders:10", "store_users:20"}),
        frozenset({"crm:2"}),
        frozenset({"crm:3", "web_visitors:30"}),
        frozenset({"web_visitors:31"}),
    }
    assert sorted(set(ids(first).values())) == [1, 2, 3, 4]
    reasons = {row["customer_id"]: row["reason"] for row in first.changes.to_pylist()}
    assert reasons[ids(first)["crm:1"]] == "linked by email"
    assert reasons[ids(first)["crm:3"]] == "linked by web_login"
    assert reasons[ids(first)["web_visitors:31"]] == "single record"
    assert {row["kind"] for row in first.changes.to_pylist()} == {"new"}
    graph = first.graph.to_pylist()
    assert len(graph) == len(EDGES)
    assert {(g["record_id_l"], g["record_id_r"]) for g in graph if not g["used"]} == {("crm:1", "crm:2")}


def test_rebuild_keeps_every_id_even_when_records_arrive_in_another_order() -> None:
    first = run(RECORDS, EDGES, first_new_id=100)
    again = run(list(reversed(RECORDS)), EDGES, previous=first, first_new_id=200)
    assert ids(again) == ids(first)
    assert again.changes.num_rows == 0


def test_new_batch_keeps_every_existing_persons_id_full_and_incremental() -> None:
    first = run(RECORDS, EDGES)
    batch = [
        record("retail_orders:11", first_name="bob", last_name="ray", email="bob@y.io"),
        record("store_users:21", first_name="cat", last_name="kim", email="cat@z.io"),
        record("retail_orders:12", first_name="cat", last_name="kim", email="cat@z.io"),
    ]
    edges = [
        *EDGES,
        ("crm:3", "retail_orders:11", "email", 1.0),
        ("retail_orders:12", "store_users:21", "email", 1.0),
    ]
    for incremental in (False, True):
        matcher_result = run(RECORDS + batch, edges, previous=first, incremental=incremental, first_new_id=5)
        assert matcher_result.mode == ("incremental" if incremental else "full")
        after = ids(matcher_result)
        assert {r: after[r] for r in ids(first)} == ids(first)
        assert after["retail_orders:11"] == ids(first)["crm:3"]
        assert after["store_users:21"] == after["retail_orders:12"] == 5
        assert matcher_result.new_records == 3
        new_rows = [row for row in matcher_result.changes.to_pylist() if row["kind"] == "new"]
        assert [(r["customer_id"], r["reason"]) for r in new_rows] == [(5, "linked by email")]


def test_incremental_matches_only_the_new_records() -> None:
    first = run(RECORDS, EDGES)
    matcher = FakeMatcher([*EDGES, ("crm:2", "retail_orders:13", "email", 1.0)])
    con = records_con([*RECORDS, record("retail_orders:13", email="amy@x.io")])
    result = resolve(con, "records", matcher, first.assignments, [], SETTINGS, incremental=True)
    assert matcher.calls == ["new_records"]
    assert result.graph.num_rows == 1  # only the new edge is appended to the graph
    assert ids(result)["retail_orders:13"] == ids(first)["crm:2"]


def test_a_merge_keeps_the_id_most_records_had_and_records_the_other() -> None:
    first = run(RECORDS, EDGES)
    # a new CRM record bridges ann and her twin (say a shared phone): the twins merge
    bridged = run(
        [*RECORDS, record("crm:4")],
        [*EDGES, ("crm:1", "crm:4", "phone", 1.0), ("crm:2", "crm:4", "phone", 1.0)],
        previous=first,
        first_new_id=9,
    )
    ann, amy = ids(first)["crm:1"], ids(first)["crm:2"]
    assert ids(bridged)["crm:2"] == ids(bridged)["crm:4"] == ann  # ann had 3 records, amy 1
    merges = [row for row in bridged.changes.to_pylist() if row["kind"] == "merge"]
    assert merges == [
        {"kind": "merge", "customer_id": ann, "related_ids": [amy], "reason": "merged by phone"}
    ]


def test_a_split_keeps_the_id_for_the_largest_part_and_gives_new_ids_to_the_rest() -> None:
    first = run(RECORDS, EDGES)
    ann = ids(first)["crm:1"]
    without_store_link = [e for e in EDGES if e[1] != "store_users:20"]
    split = run(RECORDS, without_store_link, previous=first, first_new_id=50)
    assert ids(split)["crm:1"] == ids(split)["retail_orders:10"] == ann
    assert ids(split)["store_users:20"] == 50
    assert split.changes.to_pylist() == [
        {
            "kind": "split",
            "customer_id": ann,
            "related_ids": [50],
            "reason": "no remaining link between the parts (rules or model changed)",
        }
    ]


def test_ids_retired_by_a_merge_are_never_given_again() -> None:
    con = records_con(RECORDS)
    con.register("edges", edge_table([]))
    connected_components(con, "records", "edges", 0.9)
    previous = pa.table({"record_id": ["crm:1", "crm:2"], "customer_id": [7, 3]})
    assignments, changes = assign_ids(con, "clusters", previous, first_new_id=12)
    assigned = dict(zip(*assignments.to_pydict().values(), strict=True))
    assert assigned["crm:1"] == 7 and assigned["crm:2"] == 3
    assert sorted(v for k, v in assigned.items() if k not in ("crm:1", "crm:2")) == [12, 13, 14, 15, 16]
    assert sorted(changes.column("customer_id").to_pylist()) == [12, 13, 14, 15, 16]


def test_contested_ids_go_to_the_biggest_share_then_the_smallest_id() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE clusters AS SELECT * FROM (VALUES ('a', 'k1'), ('b', 'k1'), ('c', 'k2'), ('d', 'k2'), "
        "('e', 'k2'), ('f', 'k3')) t(record_id, cluster_key)"
    )
    # id 5 had a, c, d; id 4 had b, e, f. k2 holds two of 5 and one of 4; k1 one of each.
    previous = pa.table({"record_id": list("abcdef"), "customer_id": [5, 4, 5, 5, 4, 4]})
    assignments, changes = assign_ids(con, "clusters", previous)
    assigned = dict(zip(*assignments.to_pydict().values(), strict=True))
    assert assigned["c"] == 5  # k2: the biggest share of id 5
    assert assigned["a"] == 4  # k1: ties 5 (taken) and 4
    assert assigned["f"] == 6  # k3: its only id went to k1, so a fresh one
    kinds = sorted((row["kind"], row["customer_id"], row["related_ids"]) for row in changes.to_pylist())
    assert kinds == [("split", 4, [5, 6]), ("split", 5, [4])]


def test_unlink_cuts_the_weakest_edge_on_every_path_and_holds_across_rebuilds() -> None:
    # a family sharing an e-mail: dad (crm:5) and son (crm:6) joined by the e-mail and by a weak
    # model edge through the son's store account (store_users:22)
    family = [
        record("crm:5", client_id=5, first_name="tom", email="home@f.io"),
        record("crm:6", client_id=6, first_name="tim", email="home@f.io"),
        record("store_users:22", first_name="tim"),
    ]
    edges = [
        ("crm:5", "crm:6", "email", 1.0),
        ("crm:6", "store_users:22", "model", 0.99),
        ("crm:5", "store_users:22", "model", 0.93),
    ]
    unlink = Override("unlink", "crm:5", "crm:6", T0, "father and son")
    first = run(family, edges, overrides=[unlink])
    assert groups(first) == {frozenset({"crm:5"}), frozenset({"crm:6", "store_users:22"})}
    cut = {(g["record_id_l"], g["record_id_r"]): g["cut_reason"] for g in first.graph.to_pylist()}
    assert cut[("crm:5", "crm:6")] == "override: unlink crm:5 crm:6"
    assert cut[("crm:5", "store_users:22")] == "override: unlink crm:5 crm:6"
    assert cut[("crm:6", "store_users:22")] is None
    rebuilt = run(list(reversed(family)), edges, previous=first, overrides=[unlink])
    assert ids(rebuilt) == ids(first)
    # a new record that would bridge them again (through the son's store account, so no new edge
    # touches both) forces a full run, which cuts again
    bridge = [*family, record("retail_orders:14", email="home@f.io")]
    bridged = run(
        bridge,
        [
            *edges,
            ("crm:5", "retail_orders:14", "email", 1.0),
            ("retail_orders:14", "store_users:22", "model", 0.95),
        ],
        previous=first,
        overrides=[unlink],
        incremental=True,
    )
    assert bridged.mode == "full"
    assert ids(bridged)["crm:5"] != ids(bridged)["crm:6"]
    assert {ids(bridged)[r] for r in ids(first)} == set(ids(first).values())


def test_link_joins_two_records_the_model_missed_and_survives_a_rebuild() -> None:
    # a married name change the model did not catch: crm:1 (ann lee) is store_users:23 (ann park)
    rows = [*RECORDS, record("store_users:23", first_name="ann", last_name="park")]
    link = Override("link", "crm:1", "store_users:23", T0, "married")
    first = run(rows, EDGES)
    assert ids(first)["store_users:23"] != ids(first)["crm:1"]
    linked = run(rows, EDGES, previous=first, overrides=[link])
    ann = ids(first)["crm:1"]
    assert ids(linked)["store_users:23"] == ann
    merge = [row for row in linked.changes.to_pylist() if row["kind"] == "merge"]
    assert merge == [
        {"kind": "merge", "customer_id": ann, "related_ids": [ids(first)["store_users:23"]],
         "reason": "merged by override"}
    ]  # fmt: skip
    assert ids(run(rows, EDGES, previous=linked, overrides=[link])) == ids(linked)


def test_latest_override_for_a_pair_wins() -> None:
    rows = [
        {"kind": "link", "record_a": "b", "record_b": "a", "created_at": T0, "note": None},
        {"kind": "unlink", "record_a": "a", "record_b": "b", "created_at": T0.replace(day=2), "note": "no"},
    ]
    assert [(o.kind, o.record_a, o.record_b) for o in latest_per_pair(rows)] == [("unlink", "a", "b")]


def test_golden_record_follows_the_survivorship_rules_and_keeps_sources() -> None:
    first = run(RECORDS, EDGES)
    golden = {row["customer_id"]: row for row in first.golden.to_pylist()}
    ann = golden[ids(first)["crm:1"]]
    assert ann["client_id"] == 1
    assert (ann["first_name"], ann["first_name_source"]) == ("ann", "crm")  # most trusted
    assert (ann["last_name"], ann["last_name_source"]) == ("smith", "retail_orders")  # most recent
    assert ann["last_name_at"] == datetime(2024, 6, 1)
    assert (ann["city"], ann["city_source"]) == ("shelbyville", "retail_orders")
    assert (ann["country"], ann["country_source"]) == ("CA", "retail_orders")  # most frequent: CA twice
    assert ann["birth_date"] == BORN
    lonely = golden[ids(first)["web_visitors:31"]]
    assert lonely["client_id"] is None and lonely["email"] is None
    assert len(golden) == 4


def test_survivorship_is_configurable() -> None:
    settings = IdentitySettings(
        survivorship={"last_name": "most_trusted"}, source_trust=["store_users", "crm"]
    )
    con = records_con(RECORDS)
    result = resolve(con, "records", FakeMatcher(EDGES), None, [], settings)
    ann = next(row for row in result.golden.to_pylist() if row["client_id"] == 1)
    assert (ann["last_name"], ann["last_name_source"]) == ("smith", "store_users")
    assert (ann["first_name"], ann["first_name_source"]) == ("annie", "store_users")


def test_local_components_match_a_full_clustering() -> None:
    rng = np.random.default_rng(7)
    n = 2000
    pairs = {(int(a), int(b)) for a, b in rng.integers(0, n, size=(1500, 2)) if a != b}
    edges = [(f"r:{a:05d}", f"r:{b:05d}", "model", 0.95) for a, b in sorted(pairs)]
    rows = [record(f"r:{i:05d}") for i in range(n)]
    old = [r for r in rows if int(r["record_id"][2:]) < 1800]
    old_ids = {r["record_id"] for r in old}
    first = run(old, [e for e in edges if e[0] in old_ids and e[1] in old_ids])
    full = run(rows, edges, previous=first)
    incremental = run(rows, edges, previous=first, incremental=True)
    assert incremental.mode == "incremental"
    assert groups(incremental) == groups(full)
    assert ids(incremental) == ids(full)


def test_settings_reject_unknown_attributes() -> None:
    with pytest.raises(ValueError, match="unknown attributes"):
        IdentitySettings(survivorship={"shoe_size": "most_recent"})


def test_local_components_name_touched_customers_only() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE new AS SELECT 'n1' AS record_id UNION ALL SELECT 'n2'")
    con.register("edges", edge_table([("n1", "o1", "email", 1.0)]))
    con.register("previous", pa.table({"record_id": ["o1", "o2", "o3"], "customer_id": [1, 1, 2]}))
    local_components(con, "new", "edges", "previous", 0.9, out="local")
    rows = dict(con.execute("SELECT record_id, cluster_key FROM local").fetchall())
    assert rows == {"n1": "customer:1", "o1": "customer:1", "o2": "customer:1", "n2": "record:n2"}


def test_incremental_refreshes_the_golden_record_of_touched_customers_only() -> None:
    rows = [{**r, "batch_id": "b1"} for r in RECORDS]
    first = run(rows, EDGES)
    ann, bob = ids(first)["crm:1"], ids(first)["crm:3"]
    previous = first.assignments.append_column("batch_id", pa.array(["b1"] * first.assignments.num_rows))
    stale = first.golden.to_pylist()
    for row in stale:
        if row["customer_id"] == bob:
            row["first_name"] = "kept as it was"
    stale_golden = pa.Table.from_pylist(stale, schema=first.golden.schema)
    newer = record("retail_orders:15", last_name="lee-smith", updated_at=datetime(2025, 1, 1), batch_id="b2")
    edges = [*EDGES, ("crm:1", "retail_orders:15", "model", 0.97)]

    def incremental(records: list[dict[str, object]]) -> dict[int, dict[str, object]]:
        con = records_con(records)
        result = resolve(
            con, "records", FakeMatcher(edges), previous, [], SETTINGS, incremental=True,
            previous_golden=stale_golden,
        )  # fmt: skip
        assert result.mode == "incremental"
        return {row["customer_id"]: row for row in result.golden.to_pylist()}

    golden = incremental([*rows, newer])
    assert golden[ann]["last_name"] == "lee-smith"  # ann was touched: recomputed
    assert golden[bob]["first_name"] == "kept as it was"  # bob was not: kept from the last run
    # a later CRM batch changes bob's record: his customer is touched and recomputed
    updated = [
        {**r, "first_name": "robert", "batch_id": "b2"} if r["record_id"] == "crm:3" else r for r in rows
    ]
    golden = incremental([*updated, newer])
    assert golden[bob]["first_name"] == "robert"
    assert len(golden) == 4


def failing_training(con: duckdb.DuckDBPyConnection, features: str) -> None:
    raise ModelDidNotConverge(["name/exact m: 0.91 -> 0.87"], 25)


def test_a_model_that_does_not_converge_leaves_the_previous_one_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ModelStore(tmp_path)
    store.current.parent.mkdir(parents=True)
    saved = {"version": "v1", "model": MatchModel(splink={"comparisons": []}).to_json()}
    store.current.write_text(json.dumps(saved), encoding="utf-8")
    monkeypatch.setattr("c360.identity.model.train", failing_training)
    with pytest.raises(ModelDidNotConverge, match=r"name/exact m: 0.91 -> 0.87"):
        store.train(records_con(RECORDS), "records")
    model, version = store.load()
    assert version == "v1" and model.splink == {"comparisons": []}
    assert store.versions() == []


def test_without_any_model_a_run_links_by_the_rules_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("c360.identity.model.train", failing_training)
    con = records_con(RECORDS)
    finder, version, warning = _edge_finder(con, "records", ModelStore(tmp_path), lambda _: None)
    assert version is None and "did not converge" in warning and "rules only" in warning
    result = resolve(con, "records", finder, None, [], SETTINGS)
    # A1's rules: the same e-mail with the same given name, and the web login map
    assert groups(result) >= {
        frozenset({"crm:1", "retail_orders:10"}),
        frozenset({"crm:3", "web_visitors:30"}),
        frozenset({"web_visitors:31"}),
    }
    assert not (tmp_path / "identity" / "model.json").exists()


def test_a_damaged_model_file_says_how_to_recover(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    store.current.parent.mkdir(parents=True)
    store.current.write_text("{not json", encoding="utf-8")
    with pytest.raises(C360Error, match="cannot read the match model") as failure:
        store.load()
    assert "c360 identity train" in str(failure.value)
