"""Model files before anything runs: headers, dependencies and order, the portable SQL subset."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from c360.config import Project, load_project
from c360.engine.errors import ModelError
from c360.engine.portable import check_portable, portability_problems
from c360.modeling.header import Incremental, parse_header
from c360.modeling.project import load_model, load_models
from tests.projects import write_project

FIXTURE = Path(__file__).parent / "models_fixture"
LAKE_CONFIG = '[lake]\npath = "lake"\n'


def project_with_models(directory: Path, models: dict[str, str] | None = None) -> Project:
    """A project whose models/ holds the fixture models plus ``models`` (file name → text)."""
    write_project(directory, LAKE_CONFIG)
    shutil.copytree(FIXTURE, directory / "models")
    for name, text in (models or {}).items():
        (directory / "models" / name).write_text(text, encoding="utf-8")
    return load_project(directory)


def write_model(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- header -----------------------------------------------------------------------------------


def test_header_reads_every_key() -> None:
    path = FIXTURE / "fixture_customer_360.sql"
    header = parse_header(path.read_text(encoding="utf-8"), path)
    assert header.model == "analytics.fixture_customer_360"
    # The indented line continues the description.
    assert header.description == (
        "One row per customer per snapshot date: demographics and account totals. "
        "Kept as history: each build replaces only the snapshot dates it computes."
    )
    assert header.grain == ("customer_id", "snapshot_date")
    assert header.partition == "snapshot_date"
    assert [(t.kind, t.columns, t.minimum, t.line) for t in header.tests] == [
        ("not_null", ("customer_id", "snapshot_date"), None, 6),
        ("unique", ("customer_id", "snapshot_date"), None, 6),
        ("row_count_min", (), 1, 6),
    ]
    assert header.columns["balance"].description == "Total balance of those accounts"
    assert header.columns["balance"].line == 11


def test_header_tests_values_tables_and_pii() -> None:
    path = FIXTURE / "dim_fixture_demographic.sql"
    header = parse_header(path.read_text(encoding="utf-8"), path)
    by_kind = {t.kind: t for t in header.tests}
    assert by_kind["row_count_equals"].table == "analytics.int_fixture_clients"
    assert by_kind["accepted_values"].columns == ("age_band",)
    assert by_kind["accepted_values"].values == ("18-24", "25-34", "35-44", "45+")
    assert by_kind["accepted_values"].line == 5  # the second `tests:` line
    clients = FIXTURE / "int_fixture_clients.sql"
    docs = parse_header(clients.read_text(encoding="utf-8"), clients).columns
    assert docs["birth_date"].pii and docs["birth_date"].description == "Date of birth as the CRM has it"
    assert not docs["gender"].pii


def test_accepted_values_may_quote_values_with_commas(tmp_path: Path) -> None:
    text = (
        "-- model: analytics.x\n-- description: d\n"
        "-- tests: accepted_values(kind: 'a, b', c); not_null(kind)\nSELECT 1 AS kind\n"
    )
    header = parse_header(text, tmp_path / "x.sql")
    assert header.tests[0].values == ("a, b", "c")
    assert header.tests[1].kind == "not_null"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("-- model: analytics.x\n-- descripton: typo\nSELECT 1\n", 2, "cannot read the header line"),
        ("-- description: no name\nSELECT 1\n", 1, "no 'model:' line"),
        ("-- model: analytics.x\nSELECT 1\n", 1, "no 'description:' line"),
        ("-- model: stage.x\n-- description: d\nSELECT 1\n", 1, "zone among identity, analytics"),
        ("-- model: analytics.x\n-- description: d\n-- grain: a b\nSELECT 1\n", 3, "'a b' is not a column"),
        (
            "-- model: analytics.x\n-- description: d\n-- tests: distinct(a)\nSELECT 1\n",
            3,
            "unknown data test",
        ),
        ("-- model: analytics.x\n-- description: d\n-- tests: row_count_min(x)\n", 3, "whole number"),
        ("-- model: analytics.x\n-- description: d\n-- tests: accepted_values(a)\n", 3, "cannot read"),
        ("-- model: analytics.x\n-- description: d\n-- model: analytics.y\n", 3, "declared twice"),
        ("-- model: analytics.x\n-- description: d\n-- partition: a, b\n", 3, "exactly one column"),
        ("-- model: analytics.x\n-- description: d\n-- incremental: d from clicks\n", 3, "cannot read"),
        (
            "-- model: analytics.x\n-- description: d\n-- partition: a\n"
            "-- incremental: d from stage.c.t within 1 day\n",
            3,
            "differs from the incremental column d",
        ),
        ("-- model: analytics.x\n-- description: d\n-- order: random\n", 3, "not one of grain, none"),
    ],
)
def test_bad_header_names_file_and_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = tmp_path / "x.sql"
    with pytest.raises(ModelError) as caught:
        parse_header(text, path)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert fragment in str(caught.value)
    assert caught.value.line == line


def test_incremental_partitions_by_its_column_and_order_none_turns_sorting_off(tmp_path: Path) -> None:
    text = (
        "-- model: analytics.x\n-- description: d\n-- order: none\n"
        "-- incremental: event_date from stage.clickstream.event_time within 2 days\nSELECT 1\n"
    )
    header = parse_header(text, tmp_path / "x.sql")
    assert header.partition == "event_date"
    assert header.incremental == Incremental("event_date", "stage.clickstream", "event_time", 2)
    assert not header.sorted
    plain = parse_header("-- model: analytics.x\n-- description: d\n-- partition: d\n", tmp_path / "y.sql")
    assert (plain.partition, plain.incremental, plain.sorted) == ("d", None, True)
    bare = "-- model: analytics.x\n-- description: d\n-- incremental: d from stage.c.t\n"
    assert parse_header(bare, tmp_path / "z.sql").incremental == Incremental("d", "stage.c", "t", 0)


def test_free_comments_after_a_blank_line_are_not_header(tmp_path: Path) -> None:
    text = "-- model: analytics.x\n-- description: d\n\n-- TODO: anything goes here\nSELECT 1 AS a\n"
    assert parse_header(text, tmp_path / "x.sql").model == "analytics.x"


# ---- inputs, dependencies, order --------------------------------------------------------------


def test_inputs_are_the_zone_tables_the_sql_reads() -> None:
    model = load_model(FIXTURE / "fixture_customer_360.sql")
    assert model.inputs == {
        "analytics.dim_fixture_demographic": 19,
        "stage.fixture_as_of": 20,
        "stage.fixture_accounts": 21,
    }
    dim = load_model(FIXTURE / "dim_fixture_demographic.sql")
    assert list(dim.inputs) == ["analytics.int_fixture_clients"]  # the CTE `aged` is not a table
    assert dim.depends_on == ("analytics.int_fixture_clients",)


def test_three_chained_models_build_in_dependency_order(tmp_path: Path) -> None:
    models = load_models(project_with_models(tmp_path), builtin=False)
    assert [m.name for m in models.order()] == [
        "analytics.int_fixture_clients",
        "analytics.dim_fixture_demographic",
        "analytics.fixture_customer_360",
    ]
    # Selecting a model brings what it reads, and nothing downstream of it.
    assert [m.name for m in models.order(["analytics.dim_fixture_demographic"])] == [
        "analytics.int_fixture_clients",
        "analytics.dim_fixture_demographic",
    ]


def test_a_cycle_is_reported_as_the_cycle(tmp_path: Path) -> None:
    project = project_with_models(
        tmp_path,
        {
            "a.sql": "-- model: analytics.a\n-- description: d\nSELECT * FROM analytics.c\n",
            "b.sql": "-- model: analytics.b\n-- description: d\nSELECT * FROM analytics.a\n",
            "c.sql": "-- model: analytics.c\n-- description: d\nSELECT * FROM analytics.b\n",
        },
    )
    models = load_models(project, builtin=False)
    with pytest.raises(ModelError, match=r"cycle: analytics\.a → analytics\.c → analytics\.b → analytics\.a"):
        models.order()
    # Models outside the cycle are still orderable on their own.
    assert len(models.order(["analytics.fixture_customer_360"])) == 3


def test_reading_a_table_that_is_neither_model_nor_lake_table_fails(tmp_path: Path) -> None:
    project = project_with_models(
        tmp_path,
        {"x.sql": "-- model: analytics.x\n-- description: d\nSELECT *\nFROM stage.nowhere\n"},
    )
    models = load_models(project, builtin=False)
    path = tmp_path / "models" / "x.sql"
    with pytest.raises(ModelError) as caught:
        models.plan(["analytics.x"], lake_tables={"stage.fixture_clients"})
    assert str(caught.value).startswith(f"{path}:4: reads stage.nowhere, which is neither a model")
    assert [m.name for m in models.plan(["analytics.x"], lake_tables={"stage.nowhere"})] == ["analytics.x"]


def test_a_whole_build_skips_models_over_missing_sources(tmp_path: Path) -> None:
    project = project_with_models(
        tmp_path,
        {
            "x.sql": "-- model: analytics.x\n-- description: d\nSELECT *\nFROM stage.nowhere\n",
            "y.sql": "-- model: analytics.y\n-- description: d\nSELECT *\nFROM analytics.x\n",
        },
    )
    models = load_models(project, builtin=False)
    lake = {"stage.fixture_clients", "stage.fixture_accounts", "stage.fixture_as_of"}
    buildable, skipped = models.buildable(lake)
    assert skipped == {"analytics.x": "stage.nowhere", "analytics.y": "stage.nowhere"}
    assert "analytics.x" not in buildable and buildable == [m.name for m in models.order(buildable)]
    assert models.buildable(lake | {"stage.nowhere"})[1] == {}


def test_project_model_overrides_builtin_of_the_same_name(tmp_path: Path, monkeypatch) -> None:
    builtin = tmp_path / "builtin"
    write_model(builtin, "x.sql", "-- model: analytics.x\n-- description: shipped\nSELECT 1 AS a\n")
    monkeypatch.setattr("c360.modeling.project.builtin_models_dir", lambda: builtin)
    write_project(tmp_path / "p", LAKE_CONFIG)
    write_model(
        tmp_path / "p" / "models", "mine.sql", "-- model: analytics.x\n-- description: mine\nSELECT 2 AS a\n"
    )
    models = load_models(load_project(tmp_path / "p"))
    assert len(models) == 1
    assert models["analytics.x"].header.description == "mine"


@pytest.mark.parametrize(
    ("sql", "line", "fragment"),
    [
        ("SELECT a\nFROM crm\n", 4, "table 'crm' is not a lake table"),
        ("SELECT a FROM stage.t;\nSELECT 2\n", None, "exactly one SELECT"),
        ("SELECT a,\nFROM stage.t WHERE (\n", 4, "cannot parse the SQL"),
        ("SELECT a\nFROM analytics.x\n", 4, "reads itself"),
    ],
)
def test_bad_sql_fails_at_load_with_file_and_line(
    tmp_path: Path, sql: str, line: int | None, fragment: str
) -> None:
    path = write_model(tmp_path, "x.sql", f"-- model: analytics.x\n-- description: d\n{sql}")
    with pytest.raises(ModelError) as caught:
        load_model(path)
    assert fragment in str(caught.value)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


# ---- the portable subset ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("construct", "fragment"),
    [
        ("SELECT *\nFROM stage.t PIVOT (sum(x) FOR y IN ('a'))", "PIVOT"),
        ("SELECT\n[x * 2 FOR x IN l] AS d FROM stage.t", "list comprehensions"),
        ("SELECT\nlen(l) AS n FROM stage.t", "len()"),
        ("SELECT\nquantile_cont(x, 0.5) AS q FROM stage.t", "quantile_cont()"),
        ("SELECT\nweek(d) AS w FROM stage.t", "week()"),
        ("SELECT *\nFROM generate_series(1, 3) AS g(x)", "generate_series/range as a table"),
        ("SELECT\nextract(epoch FROM ts) AS e FROM stage.t", "extract(epoch"),
        ("SELECT 1 AS a\nUNION ALL BY NAME SELECT 2 AS a", "UNION [ALL] BY NAME"),
        ("SELECT 1 AS a\nUNION BY NAME SELECT 2 AS a", "UNION [ALL] BY NAME"),
        ("SELECT *\nFROM stage.a ASOF JOIN stage.b ON a.t >= b.t", "ASOF JOIN"),
        ("SELECT\ndayofweek(d) AS w FROM stage.t", "dayofweek()"),
        ("SELECT\ndow(d) AS w FROM stage.t", "dow()"),
        ("SELECT\nisodow(d) AS w FROM stage.t", "isodow()"),
        ("SELECT\ndayname(d) AS w FROM stage.t", "dayname()"),
        ("SELECT\nextract(dow FROM d) AS w FROM stage.t", "extract(dow"),
        ("SELECT\ndate_part('isodow', d) AS w FROM stage.t", "date_part('isodow'"),
        ("SELECT\nd + INTERVAL (n) DAY AS e FROM stage.t", "INTERVAL (expression)"),
        ("SELECT\nlist(x ORDER BY y) AS l FROM stage.t GROUP BY z", "list(x ORDER BY y)"),
    ],
)
def test_each_forbidden_construct_is_refused_with_its_line(
    tmp_path: Path, construct: str, fragment: str
) -> None:
    text = f"-- model: analytics.x\n-- description: d\n\n{construct}\n"
    path = tmp_path / "x.sql"
    with pytest.raises(ModelError) as caught:
        check_portable(text, path)
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f"{path}:5: "), str(caught.value)


def test_portable_sql_passes_and_every_problem_is_listed(tmp_path: Path) -> None:
    for path in FIXTURE.glob("*.sql"):
        check_portable(path.read_text(encoding="utf-8"), path)
    fine = "SELECT length(s), array_length(l), median(x), weekofyear(d), d + INTERVAL 3 DAY FROM stage.t"
    assert portability_problems(fine) == []
    both = "SELECT dayname(d),\n  week(d)\nFROM stage.t"
    assert [line for line, _ in portability_problems(both)] == [1, 2]
    with pytest.raises(
        ModelError, match=r"2 constructs outside the portable SQL subset:\n  .*x.sql:1: dayname"
    ):
        check_portable(both, tmp_path / "x.sql")
    # Names that only look like forbidden functions are fine: a column called week, a string 'dow'.
    assert portability_problems("SELECT week, 'dow' AS len FROM stage.t") == []
