"""Deterministic links: records that share an identifier and do not contradict each other.

Rules, each linking every member of a group to one representative (the smallest record id) so a
group of n records costs n - 1 edges, not n(n-1)/2:

- client_id: CRM client, its dispositions and the web visitors whose login names only that client
  (rule ``web_login``). A retail order's client_id is typed by a sales rep and is sometimes
  someone else's, so it counts only when the order agrees with the CRM client on the given and
  family name, or on the e-mail or phone.
- email, phone: the same address (or line) *and* the same given name (nicknames resolved). A
  family sharing one mailbox or landline has different given names, so it is never merged here;
  the model weighs those records instead. When the group holds several birth dates (a father and
  son both called James), records are grouped per birth date and undated records are left to the
  model. An address made only of the name (john.smith@) is one namesakes share, so it also needs
  the same city.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

EDGE_COLUMNS = (
    "record_id_l VARCHAR, record_id_r VARCHAR, rule VARCHAR, match_probability DOUBLE, evidence VARCHAR"
)
CLIENT_SOURCES = ("crm", "dispositions", "web_visitors")
NAME_AGREES = (
    "(r.first_key = c.first_key OR jaro_winkler_similarity(r.first_name, c.first_name) >= 0.88"
    " OR r.first_name = c.last_name)"
    " AND (jaro_winkler_similarity(coalesce(r.last_name, ''), coalesce(c.last_name, '')) >= 0.88"
    " OR r.last_name = c.first_name)"
)


def _client_members(features: str) -> str:
    sources = ", ".join(f"'{s}'" for s in CLIENT_SOURCES)
    return f"""
        SELECT record_id, source, client_id, NULL AS checked FROM {features}
        WHERE client_id IS NOT NULL AND source IN ({sources})
        UNION ALL
        SELECT r.record_id, r.source, r.client_id,
               CASE WHEN r.email = c.email THEN 'email' WHEN r.phone_key = c.phone_key THEN 'phone'
                    ELSE 'name' END
        FROM {features} r JOIN {features} c ON c.client_id = r.client_id AND c.source = 'crm'
        WHERE r.source NOT IN ({sources}) AND r.client_id IS NOT NULL
          AND (r.email = c.email OR r.phone_key = c.phone_key OR ({NAME_AGREES}))"""


def _client_edges(features: str) -> str:
    return f"""
        WITH m AS ({_client_members(features)}),
             g AS (SELECT *, min(record_id) OVER (PARTITION BY client_id) AS rep FROM m)
        SELECT record_id AS record_id_l, rep AS record_id_r,
               CASE WHEN source = 'web_visitors' THEN 'web_login' ELSE 'client_id' END AS rule,
               1.0 AS match_probability,
               json_object('rule', CASE WHEN source = 'web_visitors' THEN 'web_login' ELSE 'client_id' END,
                           'client_id', client_id, 'agrees_on', checked)::VARCHAR AS evidence
        FROM g WHERE record_id <> rep"""


def _key_edges(features: str, key: str, rule: str, split: str = "''") -> str:
    """Edges within groups of one ``key`` value and one given name (and one ``split`` value)."""
    return f"""
        WITH s AS (
            SELECT record_id, {key} AS key, first_key, birth_date, {split} AS split
            FROM (SELECT * FROM {features} WHERE {key} IS NOT NULL AND first_key IS NOT NULL)),
        k AS (
            SELECT *, count(DISTINCT birth_date) OVER (PARTITION BY key, first_key, split) AS births
            FROM s),
        m AS (SELECT *, CASE WHEN births <= 1 THEN '' ELSE CAST(birth_date AS VARCHAR) END AS part
              FROM k),
        g AS (SELECT *, min(record_id) OVER (PARTITION BY key, first_key, split, part) AS rep
              FROM m WHERE part IS NOT NULL)
        SELECT record_id AS record_id_l, rep AS record_id_r, '{rule}' AS rule, 1.0 AS match_probability,
               json_object('rule', '{rule}', '{rule}', key, 'given_name', first_key)::VARCHAR AS evidence
        FROM g WHERE record_id <> rep"""


def _touching(features: str, new_ids: str) -> str:
    """The records sharing a client id, e-mail or phone (with the given name) with a new record."""
    return f"""
        SELECT f.* FROM {features} f
        WHERE f.client_id IN (SELECT client_id FROM {features}
                              WHERE record_id IN (SELECT record_id FROM {new_ids}))
           OR (f.email, f.first_key) IN (SELECT (email, first_key) FROM {features}
                                          WHERE record_id IN (SELECT record_id FROM {new_ids}))
           OR (f.phone_key, f.first_key) IN (SELECT (phone_key, first_key) FROM {features}
                                              WHERE record_id IN (SELECT record_id FROM {new_ids}))"""


def deterministic_edges(
    con: duckdb.DuckDBPyConnection, features: str, out: str, new_ids: str | None = None
) -> str:
    """Create the edge table ``out`` from the feature table ``features`` (see ``normalize.features``).

    With ``new_ids`` (a table with a record_id column), only edges touching those records are
    made, and only the groups those records belong to are looked at.
    """
    scope = features
    if new_ids is not None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE __det_scope AS {_touching(features, new_ids)}")
        scope = "__det_scope"
    # A name-made address (john.smith@) is shared by namesakes: it links only within one city.
    parts = [
        _client_edges(scope),
        _key_edges(scope, "email", "email", "CASE WHEN email_from_name THEN coalesce(city, '') ELSE '' END"),
        _key_edges(scope, "phone_key", "phone"),
    ]
    body = " UNION ALL ".join(f"SELECT * FROM ({p})" for p in parts)
    where = ""
    if new_ids is not None:
        where = (
            f" WHERE record_id_l IN (SELECT record_id FROM {new_ids})"
            f" OR record_id_r IN (SELECT record_id FROM {new_ids})"
        )
    con.execute(f"CREATE OR REPLACE TABLE {out} AS SELECT * FROM ({body}){where}")
    if new_ids is not None:
        con.execute("DROP TABLE __det_scope")
    return out
