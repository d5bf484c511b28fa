"""The golden record: one value per attribute per customer, chosen by a survivorship rule.

Each attribute is chosen independently among the customer's records that have it (most recent,
most trusted source, or most frequent; ties fall to the next criteria in that order), and keeps
where it came from (<attr>_source) and when that source last changed it (<attr>_at), so a steward
can see why the profile says what it says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from c360.identity.settings import GOLDEN_ATTRIBUTES, IdentitySettings

if TYPE_CHECKING:
    import duckdb

GOLDEN_TABLE = "identity.golden"
ATTRIBUTE_TYPES = {"birth_date": pa.date32()}
GOLDEN_SCHEMA = pa.schema(
    [("customer_id", pa.int64()), ("client_id", pa.int64())]
    + [
        field
        for attr in GOLDEN_ATTRIBUTES
        for field in (
            (attr, ATTRIBUTE_TYPES.get(attr, pa.string())),
            (f"{attr}_source", pa.string()),
            (f"{attr}_at", pa.timestamp("us")),
        )
    ]
)

# Each rule ranks a customer's records by one integer (a row number within the customer, so it is
# unique and the value, its source and its time all come from the same record): arg_max over
# scalars is several times cheaper than ordered aggregates or struct keys at a million records.
# A record without updated_at counts as the oldest; a lower trust rank is more trusted; the
# smaller record id wins the last ties, so that every run picks the same value.
RANKS = {
    "most_recent": "coalesce(updated_at, TIMESTAMP '0001-01-01'), trust DESC, record_id DESC",
    "most_trusted": "trust DESC, coalesce(updated_at, TIMESTAMP '0001-01-01'), record_id DESC",
}


def golden_records(
    con: duckdb.DuckDBPyConnection, records: str, assignments: str, settings: IdentitySettings
) -> pa.Table:
    """One row per customer of ``assignments`` (record_id, customer_id) from ``records``."""
    ranks = " ".join(
        f"WHEN '{source.replace(chr(39), '')}' THEN {rank}"
        for rank, source in enumerate(settings.source_trust)
    )
    trust = f"CASE r.source {ranks} ELSE {len(settings.source_trust)} END" if ranks else "0"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __golden_base AS "
        f"SELECT a.customer_id, r.*, {trust} AS trust FROM {assignments} a JOIN {records} r USING (record_id)"
    )
    keys = ", ".join(
        f"row_number() OVER (PARTITION BY customer_id ORDER BY {order}) AS k_{rule}"
        for rule, order in RANKS.items()
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE __golden_ranked AS SELECT *, {keys} FROM __golden_base")
    size = con.execute("SELECT count(*) + 1 FROM __golden_ranked").fetchall()[0][0]
    frequent = [a for a in GOLDEN_ATTRIBUTES if settings.rule_for(a) == "most_frequent"]
    picks = [
        f"arg_max({column}, k_{settings.rule_for(attr)}) FILTER (WHERE {attr} IS NOT NULL) AS {alias}"
        for attr in GOLDEN_ATTRIBUTES
        if attr not in frequent
        for column, alias in ((attr, attr), ("source", f"{attr}_source"), ("updated_at", f"{attr}_at"))
    ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __golden_picks AS SELECT customer_id, "
        f"arg_max(client_id, (source = 'crm')::BIGINT * {size} + k_most_recent) "
        f"FILTER (WHERE client_id IS NOT NULL) AS client_id, {', '.join(picks)} "
        "FROM __golden_ranked GROUP BY customer_id"
    )
    joins = ""
    for attr in frequent:
        # The value most records agree on; among its records, the most recent says where it came from.
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE __golden_{attr} AS SELECT b.customer_id, b.{attr}, "
            f"b.source AS {attr}_source, b.updated_at AS {attr}_at FROM "
            f"(SELECT customer_id, max(n * {size} + k) % {size} AS k FROM "
            f"(SELECT customer_id, count(*) AS n, max(k_most_recent) AS k FROM __golden_ranked "
            f"WHERE {attr} IS NOT NULL GROUP BY customer_id, {attr}) GROUP BY customer_id) w "
            "JOIN __golden_ranked b ON b.customer_id = w.customer_id AND b.k_most_recent = w.k"
        )
        joins += f" LEFT JOIN __golden_{attr} USING (customer_id)"
    columns = ", ".join(
        f"{attr}, {attr}_source, {attr}_at::TIMESTAMP AS {attr}_at" for attr in GOLDEN_ATTRIBUTES
    )
    golden = con.sql(
        f"SELECT customer_id, client_id, {columns} FROM __golden_picks{joins} ORDER BY customer_id"
    ).to_arrow_table()
    for table in ("__golden_base", "__golden_ranked", "__golden_picks", *(f"__golden_{a}" for a in frequent)):
        con.execute(f"DROP TABLE {table}")
    return golden.cast(GOLDEN_SCHEMA)
