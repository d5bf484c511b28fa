"""Why records are one customer: its records, every edge touching them with its evidence, the
golden record with where each value came from, and the id's history."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from c360.errors import C360Error
from c360.identity.golden import GOLDEN_TABLE
from c360.identity.graph import GRAPH_TABLE
from c360.identity.runner import ID_CHANGES_TABLE, RECORD_CUSTOMERS_TABLE
from c360.identity.settings import GOLDEN_ATTRIBUTES
from c360.lake.tables import load_table, read_arrow

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog
    from rich.tree import Tree


@dataclass
class Explanation:
    customer_id: int
    asked: str
    records: list[dict] = field(default_factory=list)
    edges: list[dict] = field(default_factory=list)
    golden: dict | None = None
    history: list[dict] = field(default_factory=list)
    merged_from: str | None = None


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(_text(v) for v in values)})"


def _resolve_id(catalog: SqlCatalog, assigned: object, asked: str) -> tuple[int, str | None]:
    """The current customer id for a record id, a customer id, or an id merged into another."""
    if ":" in asked:
        rows = read_arrow(assigned, f"record_id = {_text(asked)}").to_pylist()
        if not rows:
            raise C360Error(
                f"no record {asked} in identity.record_customers",
                hint="record ids look like crm:1234 (source:record_key); run `c360 identity run` first",
            )
        return rows[0]["customer_id"], None
    try:
        customer_id = int(asked)
    except ValueError:
        raise C360Error(
            f"'{asked}' is neither a customer id nor a record id",
            hint="pass a customer id (a number) or a record id such as crm:1234",
        ) from None
    if read_arrow(assigned, f"customer_id = {customer_id}").num_rows:
        return customer_id, None
    changes = load_table(catalog, ID_CHANGES_TABLE)
    merges = (
        [r for r in read_arrow(changes, "kind = 'merge'").to_pylist() if customer_id in r["related_ids"]]
        if changes is not None
        else []
    )
    if merges:
        latest = max(merges, key=lambda r: r["changed_at"])
        return latest["customer_id"], (
            f"customer {customer_id} was merged into {latest['customer_id']} on "
            f"{latest['changed_at']:%Y-%m-%d %H:%M} ({latest['reason']})"
        )
    raise C360Error(f"no customer {customer_id} in identity.record_customers", hint="check the id")


def explain(catalog: SqlCatalog, asked: str) -> Explanation:
    assigned = load_table(catalog, RECORD_CUSTOMERS_TABLE)
    if assigned is None:
        raise C360Error(
            "no identity tables in the lake yet", hint="run `c360 identity run` (or `c360 run`) first"
        )
    customer_id, merged_from = _resolve_id(catalog, assigned, asked)
    result = Explanation(customer_id, asked, merged_from=merged_from)
    result.records = sorted(
        read_arrow(assigned, f"customer_id = {customer_id}").to_pylist(), key=lambda r: r["record_id"]
    )
    ids = [r["record_id"] for r in result.records]
    graph = load_table(catalog, GRAPH_TABLE)
    if graph is not None and ids:
        filter_ = f"{_in('record_id_l', ids)} OR {_in('record_id_r', ids)}"
        edges = read_arrow(graph, filter_).to_pylist()
        result.edges = sorted(edges, key=lambda e: (not e["used"], -e["match_probability"], e["record_id_l"]))
    golden = load_table(catalog, GOLDEN_TABLE)
    if golden is not None:
        rows = read_arrow(golden, f"customer_id = {customer_id}").to_pylist()
        result.golden = rows[0] if rows else None
    changes = load_table(catalog, ID_CHANGES_TABLE)
    if changes is not None:
        rows = read_arrow(changes).to_pylist()
        result.history = sorted(
            (r for r in rows if r["customer_id"] == customer_id or customer_id in (r["related_ids"] or [])),
            key=lambda r: r["changed_at"],
        )
    return result


def _evidence(text: str | None) -> str:
    """Evidence JSON as 'key=value' pairs (nested comparison levels flattened one level)."""
    if not text:
        return ""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text
    if not isinstance(data, dict):
        return str(data)
    parts = []
    for key, value in data.items():
        if isinstance(value, dict):
            # Model evidence: {"levels": {"name": {"gamma": 6, "level": "exact"}, ...}} → name=exact
            value = ", ".join(
                f"{k}={v.get('level', v) if isinstance(v, dict) else v}" for k, v in value.items()
            )
            parts.append(f"{key}: {value}")
        elif isinstance(value, float):
            parts.append(f"{key}={value:.3g}")
        else:
            parts.append(f"{key}={value}")
    return "; ".join(parts)


def as_tree(explanation: Explanation) -> Tree:
    from rich.markup import escape
    from rich.tree import Tree

    e = explanation
    tree = Tree(f"[bold]customer {e.customer_id}[/bold] ({len(e.records)} records)")
    if e.merged_from:
        tree.add(f"[yellow]{escape(e.merged_from)}[/yellow]")
    records = tree.add("records")
    for r in e.records:
        records.add(f"{escape(r['record_id'])}  [dim]assigned {r['assigned_at']:%Y-%m-%d %H:%M}[/dim]")
    members = {r["record_id"] for r in e.records}
    links = tree.add(f"edges ({sum(1 for x in e.edges if x['used'])} holding the records together)")
    for edge in e.edges:
        other = edge["record_id_r"] if edge["record_id_l"] in members else edge["record_id_l"]
        outside = "" if other in members else f" [dim](→ {escape(other)} is another customer)[/dim]"
        if edge["used"]:
            status = "[green]links[/green]"
        elif edge["cut_reason"]:
            status = f"[red]cut[/red] by {escape(edge['cut_reason'])}"
        else:
            status = "[dim]below threshold[/dim]"
        node = links.add(
            f"{escape(edge['record_id_l'])} ─ {escape(edge['record_id_r'])}  {edge['rule']} "
            f"p={edge['match_probability']:.4f}  {status}{outside}"
        )
        if edge["evidence"]:
            node.add(f"[dim]{escape(_evidence(edge['evidence']))}[/dim]")
    if e.golden:
        golden = tree.add("golden record")
        if e.golden.get("client_id") is not None:
            golden.add(f"client_id {e.golden['client_id']}")
        for attr in GOLDEN_ATTRIBUTES:
            value = e.golden.get(attr)
            if value is not None:
                at = e.golden.get(f"{attr}_at")
                when = f", {at:%Y-%m-%d}" if at else ""
                golden.add(
                    f"{attr}: {escape(str(value))} [dim]({e.golden.get(f'{attr}_source')}{when})[/dim]"
                )
    if e.history:
        history = tree.add("history")
        for change in e.history:
            related = ", ".join(str(i) for i in change["related_ids"] or [])
            arrow = {"merge": " ← ", "split": " → "}.get(change["kind"], "")
            moved = arrow + related if arrow and related else ""
            history.add(
                f"{change['changed_at']:%Y-%m-%d %H:%M} {change['kind']} {change['customer_id']}{moved}: "
                f"{escape(change['reason'])}"
            )
    return tree


def as_json(explanation: Explanation) -> dict:
    e = explanation
    return {
        "customer_id": e.customer_id,
        "asked": e.asked,
        "merged_from": e.merged_from,
        "records": e.records,
        "edges": [{**edge, "evidence": _parsed(edge["evidence"])} for edge in e.edges],
        "golden": e.golden,
        "history": e.history,
    }


def _parsed(text: str | None) -> object:
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return text
