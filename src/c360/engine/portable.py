"""The portable SQL subset: what a model may use so that DuckDB and Spark give the same rows.

Models are written in DuckDB's dialect and transpiled to Spark SQL with sqlglot. The constructs
refused here are the ones sqlglot mistranslates or rejects, or on which the engines disagree (see
"Portable SQL" in DESIGN.md). They are found before anything runs, each with its file and line,
so a model that would silently change meaning on Spark never reaches the lake.

Syntax-only constructs (keywords, function names) are found on sqlglot's tokens, which carry
their line; constructs that depend on where they sit (``generate_series`` as a table, an
``ORDER BY`` inside ``list()``) are found on the parsed tree.
"""

from __future__ import annotations

from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError, TokenError
from sqlglot.tokens import Token, TokenType

from c360.engine.errors import ModelError, location

WEEKDAY_FIX = "compute the weekday explicitly, e.g. date_diff('day', DATE '2000-01-03', d) % 7 (0 = Monday)"
FUNCTION_FIXES = {
    "len": "use length(text) for text or array_length(list) for lists",
    "quantile_cont": "use median(x); other quantiles have no portable form yet",
    "week": "use weekofyear(date)",
    "dayofweek": WEEKDAY_FIX,
    "dow": WEEKDAY_FIX,
    "isodow": WEEKDAY_FIX,
    "dayname": "map an explicitly computed weekday to its name with CASE",
}
EPOCH_FIX = "use date_diff('second', TIMESTAMP '1970-01-01', ts)"
WEEKDAY_PARTS = {"dow", "isodow", "dayofweek", "weekday"}
# Tokens that can never be the keyword or function the rules look for.
LITERAL_TOKENS = {TokenType.STRING, TokenType.IDENTIFIER, TokenType.NUMBER}


def portability_problems(text: str) -> list[tuple[int | None, str]]:
    """Every construct of ``text`` outside the portable subset, as (line, what to do instead)."""
    try:
        tokens = sqlglot.Dialect.get_or_raise("duckdb").tokenize(text)
        statements = sqlglot.parse(text, read="duckdb")
    except (ParseError, TokenError):
        return []  # not SQL at all: the engine reports the syntax error with its own position
    problems = _token_problems(tokens)
    for statement in statements:
        if statement is not None:
            problems.extend(_tree_problems(statement))
    if not problems:
        try:
            sqlglot.transpile(text, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE)
        except SqlglotError as exc:
            problems.append((None, f"does not translate to Spark SQL: {exc}"))
    return sorted(problems, key=lambda problem: problem[0] or 0)


def check_portable(text: str, path: Path) -> None:
    """Refuse a model that uses constructs outside the portable subset, naming each file:line."""
    problems = portability_problems(text)
    if not problems:
        return
    first_line, first = problems[0]
    if len(problems) == 1:
        message = first
    else:
        message = f"{len(problems)} constructs outside the portable SQL subset:" + "".join(
            f"\n  {location(path, line)}: {what}" for line, what in problems
        )
    raise ModelError(
        path,
        first_line,
        message,
        hint="models must give the same rows on DuckDB and Spark (see 'Portable SQL' in DESIGN.md)",
    )


def _word(token: Token) -> str:
    return "" if token.token_type in LITERAL_TOKENS else token.text.lower()


def _token_problems(tokens: list[Token]) -> list[tuple[int | None, str]]:
    problems: list[tuple[int | None, str]] = []
    for i, token in enumerate(tokens):
        word = _word(token)
        ahead = [_word(t) for t in tokens[i + 1 : i + 4]]
        ahead_raw = tokens[i + 1 : i + 4]
        calls = bool(ahead_raw) and ahead_raw[0].token_type == TokenType.L_PAREN
        if word == "pivot":
            problems.append((token.line, "PIVOT is not portable: aggregate with CASE WHEN per column"))
        elif word == "asof":
            problems.append((token.line, "ASOF JOIN is not portable: join on a window-ranked key"))
        elif word == "union" and ("by", "name") in {tuple(ahead[:2]), tuple(ahead[1:3])}:
            problems.append((token.line, "UNION [ALL] BY NAME is not portable: list the columns in order"))
        elif word in FUNCTION_FIXES and calls:
            problems.append((token.line, f"{word}() is not portable: {FUNCTION_FIXES[word]}"))
        elif word == "extract" and calls and len(ahead) > 1:
            part = ahead[1]
            if part == "epoch":
                problems.append((token.line, f"extract(epoch ...) is not portable: {EPOCH_FIX}"))
            elif part in WEEKDAY_PARTS:
                problems.append((token.line, f"extract({part} ...) is not portable: {WEEKDAY_FIX}"))
        elif word in {"date_part", "datepart"} and calls and len(ahead_raw) > 1:
            part = ahead_raw[1].text.lower() if ahead_raw[1].token_type == TokenType.STRING else ""
            if part == "epoch":
                problems.append((token.line, f"date_part('epoch', ...) is not portable: {EPOCH_FIX}"))
            elif part in WEEKDAY_PARTS:
                problems.append((token.line, f"date_part('{part}', ...) is not portable: {WEEKDAY_FIX}"))
    return problems


def _first_line(node: exp.Expression) -> int | None:
    """sqlglot records positions on identifiers and literals, not on every node: take the first."""
    lines = [n.meta["line"] for n in node.walk() if "line" in n.meta]
    return min(lines) if lines else None


def _tree_problems(statement: exp.Expression) -> list[tuple[int | None, str]]:
    problems: list[tuple[int | None, str]] = []
    for node in statement.walk():
        if isinstance(node, exp.Comprehension):
            problems.append(
                (
                    _first_line(node),
                    "list comprehensions are not portable: use list_transform(l, lambda x: ...)",
                )
            )
        elif isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries):
            problems.append(
                (
                    _first_line(node),
                    "generate_series/range as a table is not portable: "
                    "SELECT unnest(generate_series(...)) instead",
                )
            )
        elif isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
            problems.append(
                (
                    _first_line(node),
                    "list(x ORDER BY y) is not portable (Spark drops the order): "
                    "aggregate a struct and sort the list with list_sort",
                )
            )
        elif isinstance(node, exp.Interval) and not isinstance(node.this, exp.Literal):
            problems.append(
                (
                    _first_line(node),
                    "INTERVAL (expression) is not portable: use date_add(d, n) or to_days(n)",
                )
            )
    return problems
