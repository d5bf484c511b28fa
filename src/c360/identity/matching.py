"""Edges between person records: deterministic links first, then the match model's scored pairs.

``find_edges`` is the one entry point. Over a whole population it scores every blocked pair; with
``new`` records it scores only pairs that touch a new record (new against existing, new against
new), with term frequencies taken from the whole population, so a batch of ten thousand records
costs about as much as its own blocks and not a rerun of the population.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from c360.identity import deterministic, normalize
from c360.identity.model import MATCHABLE, MatchModel, linker

if TYPE_CHECKING:
    import duckdb

# Pairs scored below this are not kept: they would never join two records and only fill the graph.
MIN_PROBABILITY = 0.5
EDGES = "identity_edges"


def _model_edges_sql(predictions: str, model: MatchModel) -> str:
    levels = []
    for name, labels in model.level_labels().items():
        cases = " ".join(f"WHEN {gamma} THEN '{label}'" for gamma, label in labels.items())
        levels.append(f"'{name}', json_object('gamma', gamma_{name}, 'level', CASE gamma_{name} {cases} END)")
    return f"""
        SELECT record_id_l, record_id_r, 'model' AS rule, match_probability,
               json_object('rule', 'model', 'match_weight', round(match_weight, 3),
                           'levels', json_object({", ".join(levels)}))::VARCHAR AS evidence
        FROM {predictions}"""


def _tf_columns(model: MatchModel) -> list[str]:
    columns = []
    for comparison in model.splink["comparisons"]:
        for level in comparison["comparison_levels"]:
            column = level.get("tf_adjustment_column")
            if column and column not in columns:
                columns.append(column)
    return columns


def _predict(con: duckdb.DuckDBPyConnection, features: str, model: MatchModel, new_ids: str | None) -> str:
    con.execute(f"CREATE OR REPLACE TABLE __match_input AS SELECT * FROM {features} WHERE {MATCHABLE}")
    link, db_api = linker(con, "__match_input", model.splink)
    if new_ids is None:
        frame = link.inference.predict(threshold_match_probability=MIN_PROBABILITY)
        con.execute(f"CREATE OR REPLACE TABLE __match_pred AS SELECT * FROM {frame.physical_name}")
    else:
        for column in _tf_columns(model):
            link.table_management.compute_tf_table(column)
        con.execute(
            "CREATE OR REPLACE TABLE __match_new AS SELECT * FROM __match_input "
            f"WHERE record_id IN (SELECT record_id FROM {new_ids})"
        )
        con.execute(
            "CREATE OR REPLACE TABLE __match_old AS SELECT * FROM __match_input "
            f"WHERE record_id NOT IN (SELECT record_id FROM {new_ids})"
        )
        new = db_api.register("__match_new", table_name="__splink_new")
        old = db_api.register("__match_old", table_name="__splink_old")
        between = link.inference.predict_between(old, new, threshold_match_probability=MIN_PROBABILITY)
        within = link.inference.predict_within(new, threshold_match_probability=MIN_PROBABILITY)
        described = con.execute(f"SELECT * FROM {within.physical_name} LIMIT 0").description
        columns = ", ".join(f'"{d[0]}"' for d in described)
        con.execute(
            f"CREATE OR REPLACE TABLE __match_pred AS SELECT {columns} FROM {between.physical_name} "
            f"UNION ALL SELECT {columns} FROM {within.physical_name}"
        )
    return "__match_pred"


def find_edges(
    con: duckdb.DuckDBPyConnection,
    records: str,
    model: MatchModel,
    new: str | None = None,
    out: str = EDGES,
) -> str:
    """Create the DuckDB table ``out`` of edges between the person records ``records``.

    Columns: record_id_l, record_id_r, rule (client_id, email, phone, web_login or model),
    match_probability (1.0 for rules) and evidence (JSON: the rule and the shared value, or the
    model's level per comparison and the match weight). With ``new`` (a table of person records,
    whether or not also in ``records``), only edges touching a new record are made.
    """
    normalize.install(con)
    population = records
    new_ids = None
    if new is not None:
        con.execute(
            f"CREATE OR REPLACE TABLE __match_all AS SELECT * FROM {new} UNION ALL "
            f"SELECT * FROM {records} WHERE record_id NOT IN (SELECT record_id FROM {new})"
        )
        con.execute(f"CREATE OR REPLACE TABLE __match_new_ids AS SELECT DISTINCT record_id FROM {new}")
        population, new_ids = "__match_all", "__match_new_ids"
    features = normalize.features(con, population, "__match_features")
    deterministic.deterministic_edges(con, features, "__match_rules", new_ids)
    predictions = _predict(con, features, model, new_ids)
    con.execute(
        f"CREATE OR REPLACE TABLE {out} AS SELECT * FROM __match_rules "
        f"UNION ALL {_model_edges_sql(predictions, model)}"
    )
    for table in ("__match_rules", "__match_pred", "__match_input", "__match_all", "__match_new_ids",
                  "__match_new", "__match_old"):  # fmt: skip
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return out
