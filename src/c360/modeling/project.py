"""Finding the models of a project and putting them in the order they must be built.

Models come from two directories: the ones shipped in ``c360/models/`` and the project's own
``<project>/models/``; a project file declaring the same model name replaces the shipped one, so
a user adapts a built-in model by copying it, never by editing the installed package.

A model's inputs are read from its SQL with sqlglot (every table qualified by a zone), so the
dependency graph can never drift from what the SQL really reads.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from c360.engine.errors import ModelError, location
from c360.errors import C360Error
from c360.lake.catalog import ZONES
from c360.modeling.header import Header, parse_header

if TYPE_CHECKING:
    from c360.config import Project

MODELS_DIRECTORY = "models"


def builtin_models_dir() -> Path:
    return Path(str(resources.files("c360.models")))


@dataclass(frozen=True)
class Model:
    """One ``.sql`` file: its header, its full text (what runs), and the tables it reads."""

    path: Path
    text: str
    header: Header
    inputs: dict[str, int]  # table read by the SQL → first line that names it

    @property
    def name(self) -> str:
        return self.header.model

    @cached_property
    def depends_on(self) -> tuple[str, ...]:
        """Tables that must be up to date first: the SQL's inputs, then row-count test targets."""
        tables = list(self.inputs)
        for test in self.header.tests:
            if test.table and test.table not in tables:
                tables.append(test.table)
        return tuple(tables)


def load_model(path: Path) -> Model:
    text = path.read_text(encoding="utf-8")
    header = parse_header(text, path)
    return Model(path, text, header, _inputs(text, path, header.model))


def _inputs(text: str, path: Path, name: str) -> dict[str, int]:
    try:
        statements = [s for s in sqlglot.parse(text, read="duckdb") if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise ModelError(
            path, first.get("line"), f"cannot parse the SQL: {first.get('description', exc)}"
        ) from None
    except TokenError as exc:
        raise ModelError(path, None, f"cannot read the SQL: {exc}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ModelError(
            path, None, "a model is exactly one SELECT statement", hint="remove other statements and DDL"
        )
    query = statements[0]
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    inputs: dict[str, int] = {}
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function such as range(10)
        line = table.this.meta.get("line", 0)
        if table.db in ZONES:
            key = f"{table.db}.{table.name}"
            inputs[key] = min(line, inputs.get(key, line))
        elif not table.db and table.name in ctes:
            continue
        else:
            raise ModelError(
                path,
                line,
                f"table '{table.sql(dialect='duckdb')}' is not a lake table",
                hint=f"qualify it with its zone, e.g. stage.{table.name} (zones: {', '.join(ZONES)})",
            )
    if name in inputs:
        raise ModelError(path, inputs[name], f"{name} reads itself", hint="a model cannot read its own table")
    return inputs


class ModelSet:
    """The models of a project by name, with their dependency order."""

    def __init__(self, models: Iterable[Model]) -> None:
        self._models = {model.name: model for model in models}

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def __getitem__(self, name: str) -> Model:
        try:
            return self._models[name]
        except KeyError:
            raise C360Error(
                f"no model named {name}",
                hint=f"models: {', '.join(sorted(self._models)) or 'none yet (add .sql files to models/)'}",
            ) from None

    def get(self, name: str) -> Model | None:
        return self._models.get(name)

    def __iter__(self) -> Iterator[Model]:
        return iter(self._models[name] for name in sorted(self._models))

    def __len__(self) -> int:
        return len(self._models)

    def order(self, selected: Iterable[str] | None = None) -> list[Model]:
        """``selected`` (all models if None) and every model upstream of them, inputs first.

        Depth-first over sorted names, so the order is the same on every run; the path being
        walked is kept so that a cycle is reported as the cycle, not just "there is one".
        """
        roots = sorted(self._models) if selected is None else [self[name].name for name in selected]
        ordered: list[Model] = []
        done: set[str] = set()
        walking: list[str] = []

        def visit(name: str) -> None:
            if name in done:
                return
            if name in walking:
                cycle = [*walking[walking.index(name) :], name]
                files = ", ".join(str(self._models[n].path) for n in cycle[:-1])
                raise ModelError(
                    self._models[name].path,
                    None,
                    f"models read each other in a cycle: {' → '.join(cycle)}",
                    hint=f"break the cycle in one of: {files}",
                )
            walking.append(name)
            for upstream in sorted(self._models[name].depends_on):
                if upstream in self._models:
                    visit(upstream)
            walking.pop()
            done.add(name)
            ordered.append(self._models[name])

        for root in roots:
            visit(root)
        return ordered

    def plan(self, selected: Iterable[str] | None, lake_tables: Collection[str]) -> list[Model]:
        """The build order, after checking every table a model reads is a model or in the lake."""
        ordered = self.order(selected)
        for model in ordered:
            for table in model.depends_on:
                if table not in self._models and table not in lake_tables:
                    tests = [test.line for test in model.header.tests if test.table == table]
                    line = model.inputs.get(table) or (tests[0] if tests else None)
                    raise ModelError(
                        model.path,
                        line,
                        f"reads {table}, which is neither a model nor a table in the lake",
                        hint="check the name, or ingest and stage its source first",
                    )
        return ordered

    def buildable(self, lake_tables: Collection[str]) -> tuple[list[str], dict[str, str]]:
        """The models whose inputs all exist, and for each other model the table it lacks.

        A project that has only some sources still builds what they support: a whole build skips
        (and reports) the models over sources it does not have instead of failing.
        """
        missing: dict[str, str] = {}
        ordered = self.order()
        for model in ordered:
            for table in model.depends_on:
                if table in self._models and table in missing:
                    missing[model.name] = missing[table]
                    break
                if table not in self._models and table not in lake_tables:
                    missing[model.name] = table
                    break
        return [model.name for model in ordered if model.name not in missing], missing

    def downstream_of(self, name: str) -> list[str]:
        return [model.name for model in self if name in model.depends_on]


def model_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.sql")) if directory.is_dir() else []


def load_models(project: Project | None, *, builtin: bool = True) -> ModelSet:
    """The built-in models (unless ``builtin`` is False) overridden by the project's own."""
    directories = [builtin_models_dir()] if builtin else []
    if project is not None:
        directories.append(project.root / MODELS_DIRECTORY)
    models: dict[str, Model] = {}
    for directory in directories:
        seen: dict[str, Path] = {}
        for path in model_files(directory):
            model = load_model(path)
            if model.name in seen:
                raise ModelError(
                    path,
                    model.header.line_of["model"],
                    f"{model.name} is also declared by {location(seen[model.name], None)}",
                    hint="each model name is declared by one file per directory",
                )
            seen[model.name] = path
            models[model.name] = model
    return ModelSet(models.values())
