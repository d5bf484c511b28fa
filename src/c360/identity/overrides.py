"""Manual link and unlink rules: durable, and stronger than any rule or model edge.

Each `c360 identity link|unlink` appends one row to identity.overrides; the latest row for a pair
of records is the one in force (unlink after link undoes the link, and the reverse). Every
clustering applies them:

- link adds an edge (rule 'override', probability 1.0) between the two records.
- unlink guarantees the two records end in different customers, even when other records join them.
  The edges of the component holding both are replayed strongest first (override and deterministic
  edges, then model edges by falling probability) into a union-find, and an edge that would put
  the two records of an unlink pair together is cut instead. So the weakest links on every path
  between them are the ones cut, and every stronger link survives. An unlink also beats a chain of
  link overrides that would join the pair.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from c360.errors import C360Error
from c360.lake.tables import append_rows, ensure_table, load_table, read_arrow

if TYPE_CHECKING:
    import duckdb
    from pyiceberg.catalog.sql import SqlCatalog

OVERRIDES_TABLE = "identity.overrides"
OVERRIDES_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("record_a", pa.string()),
        ("record_b", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("note", pa.string()),
    ]
)
# Strength order of the rules when unlink pairs force a cut: the first edges replayed are kept.
RULE_STRENGTH = {"override": 0, "client_id": 1, "web_login": 2, "email": 3, "phone": 4}


@dataclass(frozen=True)
class Override:
    kind: str
    record_a: str
    record_b: str
    created_at: datetime
    note: str


def record_override(catalog: SqlCatalog, kind: str, record_a: str, record_b: str, note: str = "") -> Override:
    """Append a link or unlink rule for two records known to identity.record_customers."""
    if record_a == record_b:
        raise C360Error(f"cannot {kind} record {record_a} with itself", hint="give two different record ids")
    assigned = load_table(catalog, "identity.record_customers")
    if assigned is not None:
        known = set(
            read_arrow(assigned, f"record_id IN ('{_sql_text(record_a)}', '{_sql_text(record_b)}')")
            .column("record_id")
            .to_pylist()
        )
        missing = [r for r in (record_a, record_b) if r not in known]
        if missing:
            raise C360Error(
                f"no record {missing[0]} in identity.record_customers",
                hint="record ids look like crm:1234 (source:record_key); find them with "
                "`c360 identity explain CUSTOMER_ID`",
            )
    first, second = sorted((record_a, record_b))
    override = Override(kind, first, second, datetime.now(UTC), note)
    row = {
        "kind": kind,
        "record_a": first,
        "record_b": second,
        "created_at": override.created_at,
        "note": note,
    }
    append_rows(
        ensure_table(catalog, OVERRIDES_TABLE, OVERRIDES_SCHEMA),
        pa.Table.from_pylist([row], schema=OVERRIDES_SCHEMA),
    )
    return override


def _sql_text(value: str) -> str:
    return value.replace("'", "''")


def active_overrides(catalog: SqlCatalog) -> list[Override]:
    """The rule in force for each pair: its latest override."""
    table = load_table(catalog, OVERRIDES_TABLE)
    if table is None:
        return []
    return latest_per_pair(read_arrow(table).to_pylist())


def latest_per_pair(rows: list[dict]) -> list[Override]:
    latest: dict[tuple[str, str], dict] = {}
    for row in sorted(rows, key=lambda r: r["created_at"]):
        latest[tuple(sorted((row["record_a"], row["record_b"])))] = row
    return [
        Override(row["kind"], a, b, row["created_at"], row["note"] or "")
        for (a, b), row in sorted(latest.items())
    ]


def add_link_edges(con: duckdb.DuckDBPyConnection, edges: str, overrides: list[Override]) -> None:
    """Insert each link override as an edge of ``edges`` (probability 1.0, rule 'override')."""
    links = [o for o in overrides if o.kind == "link"]
    if not links:
        return
    rows = pa.table(
        {
            "record_id_l": [o.record_a for o in links],
            "record_id_r": [o.record_b for o in links],
            "rule": ["override"] * len(links),
            "match_probability": [1.0] * len(links),
            "evidence": [
                json.dumps(
                    {"rule": "override", "kind": "link", "at": o.created_at.isoformat(), "note": o.note}
                )
                for o in links
            ],
        }
    )
    con.register("__link_edges", rows)
    con.execute(
        f"INSERT INTO {edges} (record_id_l, record_id_r, rule, match_probability, evidence) "
        "SELECT record_id_l, record_id_r, rule, match_probability, evidence FROM __link_edges"
    )
    con.unregister("__link_edges")


def joined_unlinks(
    con: duckdb.DuckDBPyConnection, clusters: str, overrides: list[Override]
) -> list[tuple[str, str, str]]:
    """The unlink pairs whose two records share a cluster of ``clusters``: (a, b, cluster_key)."""
    unlinks = [o for o in overrides if o.kind == "unlink"]
    if not unlinks:
        return []
    con.register(
        "__unlinks",
        pa.table({"record_a": [o.record_a for o in unlinks], "record_b": [o.record_b for o in unlinks]}),
    )
    joined = con.execute(
        f"SELECT u.record_a, u.record_b, ca.cluster_key FROM __unlinks u "
        f"JOIN {clusters} ca ON ca.record_id = u.record_a JOIN {clusters} cb ON cb.record_id = u.record_b "
        "WHERE ca.cluster_key = cb.cluster_key"
    ).fetchall()
    con.unregister("__unlinks")
    return joined


def unlink_cuts(
    con: duckdb.DuckDBPyConnection, clusters: str, edges: str, threshold: float, overrides: list[Override]
) -> list[tuple[str, str, str]]:
    """The edges to cut so that no unlink pair shares a cluster: (record_id_l, record_id_r, reason)."""
    joined = joined_unlinks(con, clusters, overrides)
    if not joined:
        return []
    keys = sorted({row[2] for row in joined})
    con.register("__cut_keys", pa.table({"cluster_key": keys}))
    component_edges = con.execute(
        f"SELECT e.record_id_l, e.record_id_r, e.rule, e.match_probability FROM {edges} e "
        f"JOIN {clusters} c ON c.record_id = e.record_id_l JOIN __cut_keys k USING (cluster_key) "
        f"WHERE e.match_probability >= {float(threshold)!r}"
    ).fetchall()
    con.unregister("__cut_keys")
    return _constrained_cut(component_edges, [(a, b) for a, b, _ in joined])


def _constrained_cut(
    component_edges: list[tuple[str, str, str, float]], pairs: list[tuple[str, str]]
) -> list[tuple[str, str, str]]:
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        root = parent.setdefault(node, node)
        while root != parent[root]:
            root = parent[root]
        while node != root:
            parent[node], node = root, parent[node]
        return root

    # For each root, the records under it that have unlink partners: a union is refused when one
    # side holds a record whose partner is on the other side.
    partners: dict[str, set[str]] = {}
    for a, b in pairs:
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)
    members: dict[str, set[str]] = {}
    cuts: list[tuple[str, str, str]] = []
    ordered = sorted(component_edges, key=lambda e: (RULE_STRENGTH.get(e[2], 9), -e[3], e[0], e[1]))
    for left, right, _rule, _probability in ordered:
        root_l, root_r = find(left), find(right)
        if root_l == root_r:
            continue
        group_l = members.setdefault(root_l, {root_l} & partners.keys())
        group_r = members.setdefault(root_r, {root_r} & partners.keys())
        blocked = next(((x, y) for x in group_l for y in partners.get(x, ()) if y in group_r), None)
        if blocked is not None:
            cuts.append((left, right, f"override: unlink {min(blocked)} {max(blocked)}"))
            continue
        parent[root_r] = root_l
        group_l |= group_r
        del members[root_r]
    return cuts
