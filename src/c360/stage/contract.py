"""Contracts: the declared stage schema of a source (docs/contracts.md), loaded and checked."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from c360.errors import ConfigError

if TYPE_CHECKING:
    from c360.config import Project

SNAKE = re.compile(r"[a-z][a-z0-9_]*")
TYPES = re.compile(r"bigint|integer|double|boolean|varchar|date|timestamp|json|decimal\(\d+,\s*\d+\)")
Pii = Literal["none", "name", "email", "phone", "address", "birth_date", "id", "location", "network"]
Normalize = Literal["trim", "lower", "upper", "email", "phone_e164"]
# ``max = "now"`` or ``"now + 10m"``: no later than when the batch was received (plus a tolerance).
RECEIVED_BOUND = re.compile(r"now(?:\s*\+\s*(\d+)\s*([smhd]))?")
SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Column(_Strict):
    name: str
    raw: list[str] = Field(default_factory=list)
    path: str | None = None
    type: str
    nullable: bool = True
    description: str
    pii: Pii = "none"
    normalize: Normalize | None = None
    format: list[str] = Field(default_factory=list)
    allowed: list[str] | None = None
    decode: dict[str, str] | None = None
    pattern: str | None = None
    min: float | str | None = None
    max: float | str | None = None

    @field_validator("raw", "format", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _snake(cls, value: str) -> str:
        if not SNAKE.fullmatch(value):
            raise ValueError(f"'{value}' must be snake_case (lower-case letters, digits, _)")
        return value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if not TYPES.fullmatch(value.lower()):
            raise ValueError(
                f"unknown type '{value}': use bigint, integer, double, decimal(p,s), varchar, boolean, "
                "date, timestamp or json"
            )
        return value.lower()

    @model_validator(mode="after")
    def _received_bound_on_times(self) -> Column:
        if isinstance(self.max, str) and self.max.strip().lower().startswith("now"):
            if not RECEIVED_BOUND.fullmatch(self.max.strip().lower()):
                raise ValueError(f"max '{self.max}': write 'now' or 'now + <n><s|m|h|d>' (e.g. 'now + 10m')")
            if self.type not in ("date", "timestamp"):
                raise ValueError(f"max '{self.max}' needs a date or timestamp column, not {self.type}")
        return self

    def future_tolerance(self) -> int | None:
        """Seconds past the batch's arrival still accepted when ``max`` is ``"now [+ n<unit>]"``.

        Judged against the batch's received-at, not the wall clock, so that restaging history
        from raw quarantines exactly the same rows as the first time.
        """
        if not isinstance(self.max, str):
            return None
        match = RECEIVED_BOUND.fullmatch(self.max.strip().lower())
        if match is None:
            return None
        amount, unit = match.groups()
        return int(amount) * SECONDS_PER_UNIT[unit] if amount else 0


class ExplodedTable(_Strict):
    name: str
    array: str
    parent: list[str] = Field(default_factory=list)
    columns: list[Column]


class Contract(_Strict):
    name: str = ""
    origin: str = ""
    description: str
    key: list[str] = Field(default_factory=list)
    columns: list[Column] = Field(min_length=1)
    tables: list[ExplodedTable] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        names = [c.name for c in self.columns]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"column '{repeated[0]}' is declared twice")
        for key in self.key:
            if key not in names:
                raise ValueError(f"key column '{key}' is not a declared column")
        for table in self.tables:
            for parent in table.parent:
                if parent not in names:
                    raise ValueError(f"table {table.name}: parent column '{parent}' is not a declared column")
        return self

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _parse(text: str, name: str, origin: str) -> Contract:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"contract {origin}: not valid TOML: {exc}", hint="fix the syntax at that line"
        ) from None
    try:
        contract = Contract.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        if first["loc"][:1] == ("columns",) and len(first["loc"]) > 1:
            index = first["loc"][1]
            columns = data.get("columns", [])
            if isinstance(index, int) and index < len(columns):
                where = f"columns[{columns[index].get('name', index)}]" + "".join(
                    f".{part}" for part in first["loc"][2:]
                )
        raise ConfigError(
            f"contract {origin}: invalid '{where}': {first['msg']}", hint="see docs/contracts.md"
        ) from None
    for column in contract.columns:
        if not column.raw and column.path is None:
            column.raw = [column.name]
    return contract.model_copy(update={"name": name, "origin": origin})


def load_contract(name: str, project_root: Path) -> Contract | None:
    """The project's ``contracts/<name>.toml`` if present, else the built-in one, else ``None``."""
    own = project_root / "contracts" / f"{name}.toml"
    if own.is_file():
        return _parse(own.read_text(encoding="utf-8"), name, str(own))
    builtin = resources.files("c360.stage.contracts").joinpath(f"{name}.toml")
    if builtin.is_file():
        return _parse(builtin.read_text(encoding="utf-8"), name, f"built-in contract {name}")
    return None


def raw_origins(project: Project, table: str, column: str) -> list[str]:
    """The raw columns a stage column is read from (for lineage): ``raw.<source>.<column>[path]``."""
    zone, _, short = table.partition(".")
    if zone != "stage":
        return []
    for source, settings in project.settings.sources.items():
        contract = load_contract(settings.contract or source, project.root)
        if contract is None:
            continue
        if short == source and column in {c.name for c in contract.columns}:
            declared = contract.column(column)
            suffix = f" {declared.path}" if declared.path else ""
            return [f"raw.{source}.{raw}{suffix}" for raw in declared.raw]
        for exploded in contract.tables:
            if exploded.name == short and column in {c.name for c in exploded.columns}:
                path = next(c for c in exploded.columns if c.name == column).path or f"$.{column}"
                return [f"raw.{source}.{exploded.array}[*] {path}"]
    return []
