"""identity.graph: every edge found between two records, with its evidence and whether it counts.

An edge counts (``used``) when it reaches the match threshold and no unlink override cut it; the
others stay in the graph so that `c360 identity explain` can show near misses and cuts too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from datetime import datetime

    import duckdb

GRAPH_TABLE = "identity.graph"
GRAPH_SCHEMA = pa.schema(
    [
        ("record_id_l", pa.string()),
        ("record_id_r", pa.string()),
        ("rule", pa.string()),
        ("match_probability", pa.float64()),
        ("evidence", pa.string()),
        ("used", pa.bool_()),
        ("cut_reason", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
    ]
)


def mark_cuts(con: duckdb.DuckDBPyConnection, edges: str, cuts: list[tuple[str, str, str]]) -> str:
    """``edges`` plus cut_reason (null for edges no override cut); returns the new table's name."""
    con.register(
        "__cuts",
        pa.table(
            {
                "record_id_l": [c[0] for c in cuts],
                "record_id_r": [c[1] for c in cuts],
                "cut_reason": [c[2] for c in cuts],
            },
            schema=pa.schema(
                [("record_id_l", pa.string()), ("record_id_r", pa.string()), ("cut_reason", pa.string())]
            ),
        ),
    )
    con.execute(
        "CREATE OR REPLACE TABLE graph_edges AS SELECT e.*, c.cut_reason FROM "
        f"{edges} e LEFT JOIN __cuts c USING (record_id_l, record_id_r)"
    )
    con.unregister("__cuts")
    return "graph_edges"


def graph_rows(con: duckdb.DuckDBPyConnection, edges: str, threshold: float, now: datetime) -> pa.Table:
    """The rows of identity.graph for ``edges`` (as returned by mark_cuts)."""
    con.execute("CREATE OR REPLACE TEMP TABLE __now AS SELECT ?::TIMESTAMPTZ AS created_at", [now])
    rows = con.sql(
        "SELECT record_id_l, record_id_r, rule, match_probability, evidence, "
        f"match_probability >= {float(threshold)!r} AND cut_reason IS NULL AS used, cut_reason, "
        f"n.created_at FROM {edges}, __now n"
    ).to_arrow_table()
    con.execute("DROP TABLE __now")
    return rows.cast(GRAPH_SCHEMA)


def change_reasons(
    con: duckdb.DuckDBPyConnection, changes: pa.Table, edges: str, assignments: str, previous: str
) -> pa.Table:
    """``changes`` with a reason per row, from the used edges that caused it.

    new: the rules that hold the new customer's records together (or 'single record');
    merge: the rules of the edges joining records that had different ids before;
    split: the unlink override that cut the customer, or 'no remaining link' when the rules or
    the model no longer join its parts.
    """
    con.register("__changes", changes)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __edge_ids AS "
        "SELECT e.rule, e.cut_reason, e.used, al.customer_id AS id_l, ar.customer_id AS id_r, "
        "pl.customer_id AS prev_l, pr.customer_id AS prev_r "
        f"FROM {edges} e JOIN {assignments} al ON al.record_id = e.record_id_l "
        f"JOIN {assignments} ar ON ar.record_id = e.record_id_r "
        f"LEFT JOIN {previous} pl ON pl.record_id = e.record_id_l "
        f"LEFT JOIN {previous} pr ON pr.record_id = e.record_id_r "
        "WHERE (e.used OR e.cut_reason IS NOT NULL) AND al.customer_id IN "
        "(SELECT customer_id FROM __changes UNION ALL SELECT unnest(related_ids) FROM __changes)"
    )
    reasons = con.sql(
        "WITH held AS (SELECT id_l AS customer_id, 'linked by ' || string_agg(DISTINCT rule, ', ' "
        "ORDER BY rule) AS reason FROM __edge_ids WHERE used AND id_l = id_r GROUP BY 1), "
        "joined AS (SELECT id_l AS customer_id, 'merged by ' || string_agg(DISTINCT rule, ', ' "
        "ORDER BY rule) AS reason FROM __edge_ids WHERE used AND id_l = id_r "
        "AND prev_l IS DISTINCT FROM prev_r GROUP BY 1), "
        "cut AS (SELECT customer_id, string_agg(DISTINCT cut_reason, '; ' ORDER BY cut_reason) AS reason "
        "FROM (SELECT cut_reason, unnest([prev_l, prev_r]) AS customer_id FROM __edge_ids "
        "WHERE cut_reason IS NOT NULL) GROUP BY 1) "
        "SELECT c.kind, c.customer_id, c.related_ids, CASE c.kind "
        "WHEN 'new' THEN coalesce(h.reason, 'single record') "
        "WHEN 'merge' THEN coalesce(j.reason, 'merged') "
        "ELSE coalesce(x.reason, 'no remaining link between the parts (rules or model changed)') "
        "END AS reason "
        "FROM __changes c LEFT JOIN held h USING (customer_id) LEFT JOIN joined j USING (customer_id) "
        "LEFT JOIN cut x USING (customer_id) ORDER BY c.kind, c.customer_id"
    ).to_arrow_table()
    con.unregister("__changes")
    con.execute("DROP TABLE __edge_ids")
    return reasons.cast(changes.schema)
