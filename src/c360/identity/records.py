"""Person records: one row per source record that names a person, in one shape for every source.

Built from the stage tables. The record key of each source is the one the simulator's truth uses
(CRM client id, retail row id, store user id, disposition id, web visitor id), so evaluation joins
on it. A CRM client changed several times is one record, as its latest version. A web visitor is a
record even when it never logged in (it then has no identifier and stays its own customer); its
client_id is set only when the login map names exactly one client, because a shared computer maps
one visitor to several people.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from c360.identity import normalize
from c360.lake.query import register_table
from c360.lake.tables import load_table

if TYPE_CHECKING:
    import duckdb
    from pyiceberg.catalog.sql import SqlCatalog

RECORDS_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("source", pa.string()),
        ("record_key", pa.string()),
        ("client_id", pa.int64()),
        ("first_name", pa.string()),
        ("last_name", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("birth_date", pa.date32()),
        ("address", pa.string()),
        ("city", pa.string()),
        ("country", pa.string()),
        ("updated_at", pa.timestamp("us")),
        ("batch_id", pa.string()),
    ]
)
COLUMNS = tuple(RECORDS_SCHEMA.names)

# One SELECT per stage table, each yielding COLUMNS minus record_id (added once, below).
SOURCE_SQL: dict[str, str] = {
    "crm": """
        SELECT 'crm' AS source, CAST(client_id AS VARCHAR) AS record_key, client_id,
               c360_clean(first_name) AS first_name, c360_clean(last_name) AS last_name,
               c360_email(email) AS email, c360_phone(phone) AS phone, birth_date,
               c360_clean(address) AS address, c360_clean(city) AS city, c360_clean(country) AS country,
               CAST(updated_at AS TIMESTAMP) AS updated_at, _c360_batch_id AS batch_id
        FROM stage.crm
        QUALIFY row_number() OVER (PARTITION BY client_id
            ORDER BY updated_at DESC NULLS LAST, _c360_batch_id DESC, _c360_record DESC) = 1""",
    "retail_orders": """
        SELECT 'retail_orders', CAST(row_id AS VARCHAR), client_id,
               c360_given_of(contact_name), c360_family_of(contact_name),
               c360_email(contact_email), c360_phone(contact_phone), NULL::DATE, NULL,
               c360_clean(city), c360_clean(country), CAST(order_date AS TIMESTAMP), _c360_batch_id
        FROM stage.retail_orders""",
    "store_users": """
        SELECT 'store_users', CAST(user_id AS VARCHAR), NULL::BIGINT,
               c360_given_of(full_name), c360_family_of(full_name),
               c360_email(email), c360_phone(phone), NULL::DATE, NULL,
               c360_clean(city), NULL, CAST(signup_date AS TIMESTAMP), _c360_batch_id
        FROM stage.store_users""",
    "dispositions": """
        SELECT 'dispositions', CAST(disp_id AS VARCHAR), client_id,
               NULL, NULL, NULL, NULL, NULL::DATE, NULL, NULL, NULL, NULL::TIMESTAMP, _c360_batch_id
        FROM stage.dispositions""",
    "web_visitors": """
        SELECT 'web_visitors', full_visitor_id,
               CASE WHEN count(DISTINCT client_id) = 1 THEN min(client_id) END,
               NULL, NULL, NULL, NULL, NULL::DATE, NULL, NULL, NULL, NULL::TIMESTAMP, min(batch_id)
        FROM ({visitors})
        GROUP BY full_visitor_id""",
}
VISITOR_TABLES = {
    "web_visitors": "SELECT full_visitor_id, client_id, _c360_batch_id AS batch_id FROM stage.web_visitors",
    "web_sessions": "SELECT DISTINCT full_visitor_id, NULL::BIGINT AS client_id, "
    "_c360_batch_id AS batch_id FROM stage.web_sessions",
}
STAGE_TABLES = ("crm", "retail_orders", "store_users", "dispositions", "web_visitors", "web_sessions")


def register_person_records(
    con: duckdb.DuckDBPyConnection, catalog: SqlCatalog, out: str = "person_records"
) -> str:
    """Create the DuckDB table ``out`` of person records from the stage tables present in the lake.

    A source whose stage table does not exist yet contributes no records (a first run may have
    staged only some sources).
    """
    normalize.install(con)
    present = set()
    for name in STAGE_TABLES:
        table = load_table(catalog, f"stage.{name}")
        if table is not None:
            register_table(con, table, f"stage.{name}")
            present.add(name)
    return build_records(con, present, out)


def build_records(con: duckdb.DuckDBPyConnection, present: set[str], out: str) -> str:
    """``out`` from the stage views named in ``present`` (already registered in ``con``)."""
    selects = []
    for source, sql in SOURCE_SQL.items():
        if source == "web_visitors":
            visitors = [VISITOR_TABLES[t] for t in ("web_visitors", "web_sessions") if t in present]
            if not visitors:
                continue
            sql = sql.format(visitors=" UNION ALL ".join(visitors))
        elif source not in present:
            continue
        selects.append(sql)
    columns = ", ".join(COLUMNS[1:])
    if selects:
        body = " UNION ALL ".join(f"SELECT * FROM ({s})" for s in selects)
        con.execute(
            f"CREATE OR REPLACE TABLE {out} AS SELECT source || ':' || record_key AS record_id, * "
            f"FROM ({body}) AS u({columns}) ORDER BY record_id"
        )
    else:
        con.register("__empty_records", RECORDS_SCHEMA.empty_table())
        con.execute(f"CREATE OR REPLACE TABLE {out} AS SELECT * FROM __empty_records")
        con.unregister("__empty_records")
    return out


def person_records(catalog: SqlCatalog) -> pa.Table:
    """The person records of the lake's stage tables as Arrow (schema ``RECORDS_SCHEMA``)."""
    import duckdb

    con = duckdb.connect()
    try:
        name = register_person_records(con, catalog)
        return con.sql(f"SELECT * FROM {name}").to_arrow_table().cast(RECORDS_SCHEMA)
    finally:
        con.close()
