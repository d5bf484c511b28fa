"""The DuckDB expressions that type, normalize and check one contract column.

Stage SQL runs on the embedded engine only (it is not a model), so it may use DuckDB's own
functions; the models downstream stay in the portable subset.
"""

from __future__ import annotations

from dataclasses import dataclass

from c360.stage.contract import Column

TEXT_TYPES = ("VARCHAR", "JSON")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def raw_name(column: Column) -> str:
    return quote(f"__r_{column.name}")


def value_name(column: Column) -> str:
    return quote(f"__v_{column.name}")


def typed_name(column: Column) -> str:
    return quote(f"__t_{column.name}")


@dataclass(frozen=True)
class ColumnSql:
    """Expressions for one column, computed in three steps so that each is written once.

    ``raw`` reads the raw row (first alias present and non-null), ``value`` normalizes
    ``raw_name``, ``typed`` parses ``value_name``, and ``violations`` reads all three names.
    """

    raw: str
    value: str
    typed: str
    violations: list[tuple[str, str]]
    """(rule, condition) pairs in the order they are reported."""


def json_paths(columns: list[Column], raw_types: dict[str, str]) -> dict[str, list[str]]:
    """For each raw JSON column, every path the contract reads from it (in a fixed order)."""
    paths: dict[str, list[str]] = {}
    for column in columns:
        if column.path is None:
            continue
        for raw in column.raw:
            if raw in raw_types and column.path not in paths.setdefault(raw, []):
                paths[raw].append(column.path)
    return paths


def extracted_name(raw: str) -> str:
    return quote(f"__j_{raw}")


def json_extraction(raw: str, raw_type: str, paths: list[str]) -> str:
    """All the paths of one raw JSON column in one call: DuckDB parses the document once."""
    source = quote(raw) if raw_type in TEXT_TYPES else f"CAST(to_json({quote(raw)}) AS VARCHAR)"
    return f"json_extract_string({source}, [{', '.join(literal(p) for p in paths)}])"


def _raw_value(column: Column, raw: str, raw_type: str, paths: dict[str, list[str]]) -> tuple[str, bool]:
    """The value of one raw alias and whether it is text (to be normalized and parsed)."""
    ref = quote(raw)
    if column.path is not None:
        index = paths[raw].index(column.path) + 1
        return f"nullif(trim({extracted_name(raw)}[{index}]), '')", True
    if raw_type in TEXT_TYPES:
        return f"nullif(trim({ref}), '')", True
    return ref, False


def _normalized(column: Column, value: str) -> str:
    match column.normalize:
        case "lower" | "email":
            return f"lower({value})"
        case "upper":
            return f"upper({value})"
        case "phone_e164":
            digits = f"regexp_replace({value}, '[^0-9]', '', 'g')"
            return (
                f"CASE WHEN NOT regexp_full_match({value}, '\\+?[0-9 ().\\-/]{{7,}}') THEN NULL "
                f"WHEN starts_with({value}, '+') THEN '+' || {digits} "
                f"WHEN starts_with({digits}, '00') THEN '+' || {digits}[3:] "
                f"WHEN length({digits}) = 10 THEN '+1' || {digits} "
                f"WHEN length({digits}) = 11 AND starts_with({digits}, '1') THEN '+' || {digits} END"
            )
        case _:
            return value


def decoded(column: Column, value: str) -> str:
    if not column.decode:
        return value
    cases = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in column.decode.items())
    return f"CASE {value} {cases} ELSE {value} END"


def _typed(column: Column, value: str, text: bool) -> str:
    if not text:
        return f"TRY_CAST({value} AS {column.type.upper()})"
    return typed_text(column, decoded(column, value))


def typed_text(column: Column, decoded: str) -> str:
    """Parse already-decoded text into the column's type (NULL when it does not parse)."""
    target = column.type.upper()
    if column.type in ("date", "timestamp") and column.format:
        parsed = [f"try_strptime({decoded}, {literal(fmt)})" for fmt in column.format]
        combined = parsed[0] if len(parsed) == 1 else f"coalesce({', '.join(parsed)})"
        return f"CAST({combined} AS {target})"
    if column.type == "json":
        return f"CASE WHEN json_valid({decoded}) THEN {decoded} END"
    if column.type in ("bigint", "integer"):
        # TRY_CAST('2.5' AS BIGINT) rounds to 3; a whole number is required instead.
        return (
            f"CASE WHEN regexp_full_match({decoded}, '[+-]?[0-9]+') THEN TRY_CAST({decoded} AS {target}) END"
        )
    return f"TRY_CAST({decoded} AS {target})"


# When the batch (column ``b`` of the stage query) was received: its id starts with that moment,
# UTC, as written by c360.raw.landing.new_batch_id. An id of another shape gives NULL: no check.
BATCH_RECEIVED_AT = "try_strptime(split_part(b, '-', 1), '%Y%m%dT%H%M%S%f')"


def _bound(column: Column, bound: float | str) -> str:
    if isinstance(bound, str):
        return f"CAST({literal(bound)} AS {column.type.upper()})"
    return repr(bound)


def column_sql(
    column: Column, raw_types: dict[str, str], paths: dict[str, list[str]] | None = None
) -> ColumnSql:
    """``raw_types``: DuckDB type name of each raw column present in the batches being staged;
    ``paths``: :func:`json_paths` of the contract, whose extractions the query computes first."""
    present = [raw for raw in column.raw if raw in raw_types]
    if not present:
        raw, text = "CAST(NULL AS VARCHAR)", True
    else:
        parts = [_raw_value(column, alias, raw_types[alias], paths or {}) for alias in present]
        text = all(is_text for _, is_text in parts)
        if not text:
            parts = [(f"TRY_CAST({p} AS {column.type.upper()})" if t else p, False) for p, t in parts]
        raw = parts[0][0] if len(parts) == 1 else f"coalesce({', '.join(p for p, _ in parts)})"
    r, v, t = raw_name(column), value_name(column), typed_name(column)
    value = _normalized(column, r) if text else r
    violations: list[tuple[str, str]] = []
    failure = "format" if column.format or column.normalize == "phone_e164" else "type"
    if column.allowed is not None:
        allowed = ", ".join(literal(a) for a in column.allowed)
        violations.append(("allowed_values", f"{v} IS NOT NULL AND CAST({v} AS VARCHAR) NOT IN ({allowed})"))
    violations.append((failure, f"{r} IS NOT NULL AND {t} IS NULL"))
    if not column.nullable:
        violations.append(("not_null", f"{r} IS NULL"))
    if column.pattern is not None:
        violations.append(
            (
                "pattern",
                f"{v} IS NOT NULL AND NOT regexp_full_match(CAST({v} AS VARCHAR), {literal(column.pattern)})",
            )
        )
    if column.min is not None:
        violations.append(("range", f"{t} < {_bound(column, column.min)}"))
    tolerance = column.future_tolerance()
    if tolerance is not None:
        latest = f"CAST({BATCH_RECEIVED_AT} + INTERVAL '{tolerance}' SECOND AS {column.type.upper()})"
        violations.append(("future", f"{t} > {latest}"))
    elif column.max is not None:
        violations.append(("range", f"{t} > {_bound(column, column.max)}"))
    return ColumnSql(raw=raw, value=value, typed=_typed(column, v, text), violations=violations)
