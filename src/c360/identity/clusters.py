"""Clusters of linked records, and the stable customer ids given to them.

Components are found with a vectorised union-find in numpy (hook the larger root under the smaller,
then compress paths) rather than an iterative SQL join: at a million records it needs a handful of
passes over the edge arrays instead of one self-join per graph diameter step.

Stable ids: a cluster keeps the id that most of its previously assigned records had, a split part
other than the largest gets a fresh id, and every id that appears, merges or splits is reported as a
change, so that ``identity.id_changes`` says which ids became which.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    import duckdb

ASSIGNMENTS_SCHEMA = pa.schema([("record_id", pa.string()), ("customer_id", pa.int64())])
CHANGES_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("customer_id", pa.int64()),
        ("related_ids", pa.list_(pa.int64())),
        ("reason", pa.string()),
    ]
)


def component_labels(nodes: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """For each node 0..nodes-1, the smallest node of its connected component."""
    parent = np.arange(nodes, dtype=np.int64)
    left, right = left.astype(np.int64), right.astype(np.int64)
    while True:
        root_l, root_r = parent[left], parent[right]
        apart = root_l != root_r
        if not apart.any():
            return parent
        # An edge whose ends share a root stays inside one component for good: drop it.
        left, right, root_l, root_r = left[apart], right[apart], root_l[apart], root_r[apart]
        np.minimum.at(parent, np.maximum(root_l, root_r), np.minimum(root_l, root_r))
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand


def _components(con: duckdb.DuckDBPyConnection, nodes_sql: str, edges_sql: str, out: str) -> str:
    """``out`` (node_id, cluster_key): each node of ``nodes_sql`` with the smallest node id of its
    component; ``edges_sql`` yields (node_l, node_r) pairs of node ids."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __cc_nodes AS "
        f"SELECT node_id, (row_number() OVER (ORDER BY node_id) - 1)::BIGINT AS ix "
        f"FROM (SELECT DISTINCT node_id FROM ({nodes_sql}))"
    )
    pairs = con.execute(
        f"SELECT l.ix AS l, r.ix AS r FROM ({edges_sql}) e "
        "JOIN __cc_nodes l ON l.node_id = e.node_l JOIN __cc_nodes r ON r.node_id = e.node_r"
    ).fetchnumpy()
    count = con.execute("SELECT count(*) FROM __cc_nodes").fetchall()[0][0]
    labels = component_labels(count, np.asarray(pairs["l"]), np.asarray(pairs["r"]))
    con.register("__cc_labels", pa.table({"ix": np.arange(count, dtype=np.int64), "label": labels}))
    # Nodes are numbered in id order, so the smallest index of a component is its smallest id.
    con.execute(
        f"CREATE OR REPLACE TABLE {out} AS "
        "SELECT n.node_id, k.node_id AS cluster_key FROM __cc_labels x "
        "JOIN __cc_nodes n ON n.ix = x.ix JOIN __cc_nodes k ON k.ix = x.label"
    )
    con.unregister("__cc_labels")
    con.execute("DROP TABLE __cc_nodes")
    return out


def connected_components(
    con: duckdb.DuckDBPyConnection, records: str, edges: str, threshold: float, out: str = "clusters"
) -> str:
    """Table ``out`` (record_id, cluster_key) with every record of ``records``: records joined by
    edges whose match_probability reaches ``threshold`` share a cluster_key (their smallest
    record_id); a record without such an edge is a cluster of its own."""
    _components(
        con,
        f"SELECT record_id AS node_id FROM {records}",
        f"SELECT record_id_l AS node_l, record_id_r AS node_r FROM {edges} "
        f"WHERE match_probability >= {float(threshold)!r}",
        "__cc_out",
    )
    con.execute(f"CREATE OR REPLACE TABLE {out} AS SELECT node_id AS record_id, cluster_key FROM __cc_out")
    con.execute("DROP TABLE __cc_out")
    return out


def local_components(
    con: duckdb.DuckDBPyConnection,
    new: str,
    edges: str,
    previous: str,
    threshold: float,
    out: str = "clusters",
) -> str:
    """Clusters of an incremental batch without re-clustering the population.

    Each existing customer of ``previous`` (record_id, customer_id) stands as one node; the edges
    touching ``new`` records join new records to each other and to those customers. ``out`` holds
    the new records plus every record of each customer they touched (so assign_ids can keep, merge
    and report ids); customers no new record touches are left out, their ids unchanged.
    """
    endpoint = "coalesce('customer:' || p{side}.customer_id::VARCHAR, 'record:' || e.record_id_{side})"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __local_edges AS "
        f"SELECT {endpoint.format(side='l')} AS node_l, {endpoint.format(side='r')} AS node_r "
        f"FROM {edges} e LEFT JOIN {previous} pl ON pl.record_id = e.record_id_l "
        f"LEFT JOIN {previous} pr ON pr.record_id = e.record_id_r "
        f"WHERE e.match_probability >= {float(threshold)!r}"
    )
    _components(
        con,
        f"SELECT 'record:' || record_id AS node_id FROM {new} "
        "UNION SELECT node_l FROM __local_edges UNION SELECT node_r FROM __local_edges",
        "SELECT node_l, node_r FROM __local_edges",
        "__local_nodes",
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {out} AS "
        "SELECT substr(node_id, 8) AS record_id, cluster_key FROM __local_nodes "
        "WHERE node_id LIKE 'record:%' "
        "UNION ALL SELECT p.record_id, n.cluster_key FROM __local_nodes n "
        f"JOIN {previous} p ON n.node_id = 'customer:' || p.customer_id::VARCHAR"
    )
    con.execute("DROP TABLE __local_nodes")
    con.execute("DROP TABLE __local_edges")
    return out


def _greedy(votes: list[tuple[str, int, int]], taken: set[int]) -> dict[str, int]:
    """Contested ids: the biggest share of an id wins it (ties: the smallest id, then cluster)."""
    chosen: dict[str, int] = {}
    for cluster, customer_id, _ in sorted(votes, key=lambda v: (-v[2], v[1], v[0])):
        if cluster not in chosen and customer_id not in taken:
            chosen[cluster] = customer_id
            taken.add(customer_id)
    return chosen


def assign_ids(
    con: duckdb.DuckDBPyConnection,
    clusters: str,
    previous: pa.Table | None,
    first_new_id: int = 1,
) -> tuple[pa.Table, pa.Table]:
    """Customer ids for the clusters of ``clusters`` (record_id, cluster_key), kept from
    ``previous`` (record_id, customer_id) where the records were assigned before.

    Returns (assignments: record_id, customer_id; changes: kind new|merge|split, customer_id,
    related_ids, reason). Fresh ids start above both ``first_new_id - 1`` and every previous id, so
    an id retired by a merge is never handed to another person. A merge row names the surviving id
    and the ids merged into it; a split row names the id that kept the largest part and the ids
    given to the other parts. Reasons are left empty for the caller, which knows the edges.
    """
    prev = previous if previous is not None else ASSIGNMENTS_SCHEMA.empty_table()
    con.register("__prev", prev.select(["record_id", "customer_id"]))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __votes AS "
        f"SELECT c.cluster_key, p.customer_id, count(*)::BIGINT AS n FROM {clusters} c "
        "JOIN __prev p USING (record_id) GROUP BY ALL"
    )
    # Clear cases in SQL (one candidate id, claimed by one cluster); only contested ones in Python.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __clear AS SELECT cluster_key, customer_id FROM __votes "
        "WHERE cluster_key IN (SELECT cluster_key FROM __votes GROUP BY 1 HAVING count(*) = 1) "
        "AND customer_id IN (SELECT customer_id FROM __votes GROUP BY 1 HAVING count(*) = 1)"
    )
    clear = con.sql("SELECT cluster_key, customer_id FROM __clear").to_arrow_table()
    contested = con.execute(
        "SELECT cluster_key, customer_id, n FROM __votes ANTI JOIN __clear USING (cluster_key)"
    ).fetchall()
    chosen = _greedy(contested, set(clear.column("customer_id").to_pylist()))
    con.register(
        "__chosen",
        pa.concat_tables(
            [
                clear.cast(pa.schema([("cluster_key", pa.string()), ("customer_id", pa.int64())])),
                pa.table(
                    {"cluster_key": list(chosen), "customer_id": list(chosen.values())},
                    schema=pa.schema([("cluster_key", pa.string()), ("customer_id", pa.int64())]),
                ),
            ]
        ),
    )
    highest = con.execute("SELECT max(customer_id) FROM __prev").fetchall()[0][0] or 0
    start = max(first_new_id, highest + 1)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __cluster_ids AS "
        "SELECT cluster_key, customer_id FROM __chosen UNION ALL "
        f"SELECT cluster_key, {start} - 1 + row_number() OVER (ORDER BY cluster_key) "
        f"FROM (SELECT DISTINCT cluster_key FROM {clusters}) ANTI JOIN __chosen USING (cluster_key)"
    )
    assignments = con.sql(
        f"SELECT c.record_id, i.customer_id FROM {clusters} c JOIN __cluster_ids i USING (cluster_key) "
        "ORDER BY c.record_id"
    ).to_arrow_table()
    new_ids = con.execute(
        f"SELECT customer_id FROM __cluster_ids WHERE customer_id >= {start} AND cluster_key NOT IN "
        "(SELECT cluster_key FROM __votes) ORDER BY 1"
    ).fetchall()
    # Previous ids that moved: a cluster holds them under another id.
    moved = con.execute(
        "SELECT v.customer_id AS previous_id, list(DISTINCT i.customer_id ORDER BY i.customer_id) "
        "FROM __votes v JOIN __cluster_ids i USING (cluster_key) WHERE v.customer_id IN "
        "(SELECT v2.customer_id FROM __votes v2 JOIN __cluster_ids i2 USING (cluster_key) "
        "WHERE v2.customer_id <> i2.customer_id) GROUP BY 1 ORDER BY 1"
    ).fetchall()
    surviving = {row[0] for row in con.execute("SELECT customer_id FROM __cluster_ids").fetchall()}
    for name in ("__prev", "__chosen"):
        con.unregister(name)
    for table in ("__votes", "__clear", "__cluster_ids"):
        con.execute(f"DROP TABLE {table}")
    return assignments.cast(ASSIGNMENTS_SCHEMA), _changes(new_ids, moved, surviving)


def _changes(new_ids: list[tuple[int]], moved: list[tuple[int, list[int]]], surviving: set[int]) -> pa.Table:
    rows: list[dict[str, object]] = [
        {"kind": "new", "customer_id": row[0], "related_ids": [], "reason": ""} for row in new_ids
    ]
    merged_into: dict[int, list[int]] = defaultdict(list)
    for previous_id, holders in moved:
        if previous_id in surviving:
            rows.append(
                {
                    "kind": "split",
                    "customer_id": previous_id,
                    "related_ids": [h for h in holders if h != previous_id],
                    "reason": "",
                }
            )
        else:
            for holder in holders:
                merged_into[holder].append(previous_id)
    rows.extend(
        {"kind": "merge", "customer_id": holder, "related_ids": sorted(ids), "reason": ""}
        for holder, ids in sorted(merged_into.items())
    )
    return pa.Table.from_pylist(rows, schema=CHANGES_SCHEMA)
