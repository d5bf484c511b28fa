"""The probabilistic match model: Splink (Fellegi-Sunter) on DuckDB, trained without labels by EM.

Comparisons follow the dirt real sources carry: a name comparison that knows nicknames, swapped
given and family names and a married name change (given name agrees, family name does not); e-mail
exact (a name-made address like john.smith@ counting less: namesakes share it) or with one
mistyped letter; phone on the subscriber number; birth date; address; city.
Exact-match levels are term-frequency adjusted, so sharing "smith" says less than sharing
"lindqvist", and a family mailbox used by four people says less than a personal one. Different
given names or birth dates are contradictions with fixed weights (see CONTRADICTION_M). Training
is reproducible: u is sampled with a fixed seed and EM runs on every blocked pair (no sampling).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from c360.errors import C360Error
from c360.identity import normalize
from c360.identity.errors import ModelDidNotConverge

if TYPE_CHECKING:
    import duckdb
    from splink import DuckDBAPI, Linker

SEED = 360
U_MAX_PAIRS = 1_000_000
EM_MAX_ITERATIONS = 40
# A parameter still moving by less than this per iteration at the limit is creeping, not diverging.
STILL_MOVING = 1e-3
MODEL_VERSION = 1
# Sources whose records carry no attribute to compare: linked by rules only.
MATCHABLE = "first_name IS NOT NULL OR email IS NOT NULL OR phone_key IS NOT NULL"

# Which pairs are scored at all. Measured on 100k simulated records, a given name and a city alone
# (the married-name case without any shared contact) or the same mailbox name at another domain
# added no match at 0.9 while the first doubled the pairs, so neither is here.
BLOCKING_RULES = (
    "l.email = r.email",
    "l.phone_key = r.phone_key",
    "l.first_key = r.first_key AND l.last_name = r.last_name",
    "l.first_name = r.last_name AND l.last_name = r.first_name",
    "l.birth_date = r.birth_date AND l.first_key = r.first_key",
    "l.last_name = r.last_name AND l.city = r.city AND l.first_name[1] = r.first_name[1]",
)
# EM needs blocks where most pairs are the same person. A shared e-mail or phone alone is not one:
# households share them, and EM would then learn "same family" as the match class. A shared name
# trains the other comparisons; e-mail and phone together train the name.
TRAINING_BLOCKS = (
    "l.first_key = r.first_key AND l.last_name = r.last_name",
    "l.email = r.email AND l.phone_key = r.phone_key",
)
DETERMINISTIC_FOR_PRIOR = (
    "l.email = r.email AND l.first_key = r.first_key",
    "l.phone_key = r.phone_key AND l.first_key = r.first_key",
)


def _jw(column: str, threshold: float) -> str:
    return f"jaro_winkler_similarity({column}_l, {column}_r) >= {threshold}"


def _level(
    sql: str,
    label: str,
    tf: str | None = None,
    null: bool = False,
    fixed_m: float | None = None,
    fixed_u: float | None = None,
) -> dict[str, Any]:
    level: dict[str, Any] = {"sql_condition": sql, "label_for_charts": label}
    if null:
        level["is_null_level"] = True
    if tf:
        level["tf_adjustment_column"] = tf
        level["tf_adjustment_weight"] = 1.0
    if fixed_m is not None:
        level["m_probability"] = fixed_m
        level["fix_m_probability"] = True
    if fixed_u is not None:
        level["u_probability"] = fixed_u
        level["fix_u_probability"] = True
    return level


# Contradictions are fixed, not learned. Fellegi-Sunter assumes comparisons independent given the
# match status, but a household shares surname, address, phone and often e-mail while its members'
# given names and birth dates differ; EM then learns "same household" as the match class. Fixing
# the probability that one person shows two different given names (or birth dates) keeps a shared
# phone from outweighing them. Values: a careful source mistypes a birth date about once in 50.
CONTRADICTION_M = 1e-15
NAMESAKE_SAME_EMAIL_U = 0.05
SWAPPED_U = 1e-5


def _comparison(name: str, levels: list[dict[str, Any]], else_m: float | None = None) -> dict[str, Any]:
    return {
        "output_column_name": name,
        "comparison_levels": [*levels, _level("ELSE", "else", fixed_m=else_m)],
    }


def comparisons() -> list[dict[str, Any]]:
    """The comparison levels, most specific first (Splink assigns each pair its first true level)."""
    both_null = "{c}_l IS NULL OR {c}_r IS NULL"
    return [
        _comparison(
            "name",
            [
                _level(both_null.format(c="first_name"), "null", null=True),
                _level("full_name_l = full_name_r", "exact", tf="full_name"),
                # Too rare among random pairs for u sampling to see: as rare as an exact full name.
                _level(
                    "(first_name_l = last_name_r AND last_name_l = first_name_r) OR "
                    "list_sort(string_split(full_name_l, ' ')) = list_sort(string_split(full_name_r, ' '))",
                    "swapped",
                    fixed_u=SWAPPED_U,
                ),
                _level("first_key_l = first_key_r AND last_name_l = last_name_r", "nickname"),
                _level(
                    f"(first_key_l = first_key_r OR {_jw('first_name', 0.85)}) AND "
                    "jaro_winkler_similarity(coalesce(last_name_l, ''), coalesce(last_name_r, '')) >= 0.88",
                    "similar",
                ),
                _level("first_key_l = first_key_r", "given name only"),
                _level(_jw("last_name", 0.92), "family name only", fixed_m=CONTRADICTION_M),
            ],
            else_m=CONTRADICTION_M,
        ),
        _comparison(
            "birth_date",
            [
                _level(both_null.format(c="birth_date"), "null", null=True),
                _level("birth_date_l = birth_date_r", "exact", fixed_m=0.975),
                _level(
                    "levenshtein(CAST(birth_date_l AS VARCHAR), CAST(birth_date_r AS VARCHAR)) <= 1",
                    "one digit off",
                    fixed_m=0.02,
                ),
            ],
            else_m=0.005,
        ),
        _comparison(
            "email",
            [
                _level(both_null.format(c="email"), "null", null=True),
                _level("email_l = email_r AND NOT email_from_name_l", "exact", tf="email"),
                # How often two namesakes hold the same name-only address, not how often two random
                # records share an address: the name comparison has already counted the name.
                _level("email_l = email_r", "exact, made of the name", fixed_u=NAMESAKE_SAME_EMAIL_U),
                # One mistyped letter, same domain. Addresses are made from names, so two namesakes'
                # addresses are often near each other ("jo.smith" and "jo_smith", "jsmith8"): only a
                # same-length, one-letter difference with separators ignored counts as a typo.
                _level(
                    "split_part(email_l, '@', 2) = split_part(email_r, '@', 2) "
                    "AND length(email_local_l) = length(email_local_r) "
                    "AND hamming(regexp_replace(email_local_l, '[._-]', '.', 'g'), "
                    "regexp_replace(email_local_r, '[._-]', '.', 'g')) = 1",
                    "typo",
                ),
            ],
        ),
        _comparison(
            "phone",
            [
                _level(both_null.format(c="phone_key"), "null", null=True),
                _level("phone_key_l = phone_key_r", "exact", tf="phone_key"),
            ],
        ),
        _comparison(
            "address",
            [
                _level(both_null.format(c="address"), "null", null=True),
                _level("address_l = address_r", "exact"),
                _level(_jw("address", 0.9), "similar"),
            ],
        ),
        _comparison(
            "city",
            [
                _level(both_null.format(c="city"), "null", null=True),
                _level("city_l = city_r", "exact", tf="city"),
            ],
        ),
    ]


def settings() -> dict[str, Any]:
    """An untrained Splink settings dictionary over the feature table of ``normalize.features``."""
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "record_id",
        "comparisons": comparisons(),
        "blocking_rules_to_generate_predictions": [{"blocking_rule": r} for r in BLOCKING_RULES],
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": False,
        "max_iterations": EM_MAX_ITERATIONS,
        "em_convergence": 0.0001,
        "linker_uid": "c360",
    }


@dataclass
class MatchModel:
    """A trained Splink model (its settings dictionary with m and u) and when it was trained."""

    splink: dict[str, Any]
    trained_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    records: int = 0
    version: int = MODEL_VERSION

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": self.version,
                "trained_at": self.trained_at,
                "records": self.records,
                "splink": self.splink,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> MatchModel:
        data = json.loads(text)
        return cls(
            splink=data["splink"],
            trained_at=data["trained_at"],
            records=data["records"],
            version=data["version"],
        )

    def level_labels(self) -> dict[str, dict[int, str]]:
        """For each comparison, its gamma values (as Splink numbers them) and level labels."""
        out: dict[str, dict[int, str]] = {}
        for comparison in self.splink["comparisons"]:
            levels = comparison["comparison_levels"]
            rest = [lv for lv in levels if not lv.get("is_null_level")]
            labels = {-1: "null"}
            for i, level in enumerate(rest):
                labels[len(rest) - 1 - i] = level.get("label_for_charts", level["sql_condition"])
            out[comparison["output_column_name"]] = labels
        return out


def quiet_splink() -> None:
    """Splink logs every step, and warns of levels a small sample never shows; the CLI shows its own
    progress, and a level never observed simply keeps a neutral weight."""
    logging.getLogger("splink").setLevel(logging.ERROR)


def linker(
    con: duckdb.DuckDBPyConnection, table: str, splink_settings: dict[str, Any]
) -> tuple[Linker, DuckDBAPI]:
    """A Splink linker over the DuckDB table ``table`` of ``con``, and the database API it uses (to
    register more tables for it)."""
    from splink import DuckDBAPI, Linker

    quiet_splink()
    db_api = DuckDBAPI(connection=con)
    frame = db_api.register(table, table_name=f"__splink_in_{table}")
    return Linker(frame, splink_settings, log_level=None), db_api


def _moving_parameters(session: Any, tolerance: float) -> list[str]:
    """Parameters that changed by more than ``tolerance`` in the last EM iteration."""
    history = getattr(session, "_core_model_settings_history", [])
    if len(history) < 2:
        return []
    moving = []
    for before, after in zip(history[-2].comparisons, history[-1].comparisons, strict=True):
        for old, new in zip(before.comparison_levels, after.comparison_levels, strict=True):
            if old.is_null_level:
                continue
            for kind in ("m_probability", "u_probability"):
                a, b = getattr(old, kind), getattr(new, kind)
                if isinstance(a, float) and isinstance(b, float) and abs(a - b) >= tolerance:
                    moving.append(
                        f"{after.output_column_name}/{new.label_for_charts} {kind[0]}: {a:.4g} -> {b:.4g}"
                    )
    return moving


def train(
    con: duckdb.DuckDBPyConnection, records: str, max_iterations: int = EM_MAX_ITERATIONS
) -> MatchModel:
    """Train a model on the person records ``records`` (a DuckDB table shaped like ``records.COLUMNS``).

    Raises ModelDidNotConverge, naming the parameters still moving, when an EM session reaches
    ``max_iterations``; nothing is returned then, so the caller keeps its previous model.
    """
    from splink.internals.exceptions import EMTrainingException

    normalize.install(con)
    features = normalize.features(con, records, "__train_features")
    # In record order: u sampling is seeded, but a seed only repeats a sample of rows in the same order.
    con.execute(
        f"CREATE OR REPLACE TABLE __train_records AS SELECT * FROM {features} WHERE {MATCHABLE} "
        "ORDER BY record_id"
    )
    count = con.execute("SELECT count(*) FROM __train_records").fetchall()[0][0]
    spec = settings()
    spec["max_iterations"] = max_iterations
    link, _ = linker(con, "__train_records", spec)
    link.training.estimate_probability_two_random_records_match(list(DETERMINISTIC_FOR_PRIOR), recall=0.8)
    # One sample of U_MAX_PAIRS: rare levels keep Splink's floor instead of resampling until seen.
    link.training.estimate_u_using_random_sampling(
        max_pairs=U_MAX_PAIRS, seed=SEED, min_count_per_level=None, num_chunks=1
    )
    trained_blocks = 0
    for rule in TRAINING_BLOCKS:
        try:
            session = link.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True
            )
        except EMTrainingException:
            continue  # no pair in this block (no phones in the data, say): the other block trains
        trained_blocks += 1
        iterations = len(getattr(session, "_core_model_settings_history", [])) - 1
        if iterations >= max_iterations:
            moving = _moving_parameters(session, STILL_MOVING)
            if moving:
                raise ModelDidNotConverge(moving, iterations)
    if not trained_blocks:
        raise C360Error(
            f"cannot train a match model on these {count} records: no two of them share a name, "
            "or an e-mail and a phone",
            hint="train on more records, or reuse a model trained elsewhere",
        )
    trained = link.misc.save_model_to_json()
    con.execute("DROP TABLE __train_records; DROP TABLE __train_features")
    return MatchModel(splink=trained, records=int(count))
