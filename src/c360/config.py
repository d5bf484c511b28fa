"""c360.toml → typed settings.

A c360 project is a directory holding ``c360.toml``. Paths inside it are relative to that
directory, so a project can be moved or checked into git as a whole.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from c360.errors import ConfigError
from c360.identity.settings import IdentitySettings
from c360.stream.settings import StreamSettings

CONFIG_FILE = "c360.toml"
SOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


class _Strict(BaseModel):
    # A misspelt key must fail loudly rather than be ignored and silently fall back to a default.
    model_config = ConfigDict(extra="forbid")


class LakeSettings(_Strict):
    path: str = Field("lake", description="Directory of the lake, relative to the project.")
    catalog_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the Iceberg catalog; default: a SQLite file inside the lake.",
    )

    @field_validator("catalog_url")
    @classmethod
    def _known_catalog(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value


class _SourceCommon(_Strict):
    contract: str | None = Field(
        None,
        description="Stage contract (built-in name or contracts/<name>.toml); default: the source's name.",
    )


class FileSourceSettings(_SourceCommon):
    path: str = Field(description="File or glob pattern, relative to the project directory.")
    encoding: Literal["utf-8", "utf-16", "latin-1"] = "utf-8"
    compression: Literal["auto", "none", "gzip"] = "auto"


class DelimitedSource(FileSourceSettings):
    kind: Literal["delimited"]
    delimiter: str = ","
    header: bool = True
    columns: list[str] | None = Field(None, description="Column names; required when header = false.")
    quote: str = '"'
    escape: str = '"'

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, value: str) -> str:
        if len(value.encode()) not in range(1, 5):
            raise ValueError("must be one character (1 to 4 bytes), e.g. ',' or '|' or '\\t'")
        return value


class FixedWidthField(_Strict):
    name: str
    start: int = Field(ge=1, description="1-based position of the field's first character.")
    width: int = Field(ge=1)


class FixedWidthSource(FileSourceSettings):
    kind: Literal["fixed_width"]
    layout: list[FixedWidthField] = Field(min_length=1)


class JsonLinesSource(FileSourceSettings):
    kind: Literal["json_lines"]
    format: Literal["json", "python"] = Field(
        "json", description="'python' reads lines written as Python dict reprs (single quotes)."
    )


class RestApiSource(_SourceCommon):
    kind: Literal["rest_api"]
    url: str
    records_key: str = "data"
    next_key: str = Field("next", description="Key of the response holding the next page's URL.")
    page_size: int = Field(500, ge=1)
    page_size_param: str = "limit"
    cursor_param: str = "updated_since"
    cursor_field: str = Field("updated_at", description="Record field whose maximum becomes the cursor.")
    timeout_seconds: float = Field(10.0, gt=0)
    max_retries: int = Field(5, ge=0)
    backoff_seconds: float = Field(0.5, ge=0)
    headers: dict[str, str] = Field(default_factory=dict)


class SqlDatabaseSource(_SourceCommon):
    kind: Literal["sql_database"]
    url: str = Field(description="postgresql://user@host:port/db or sqlite:///path/to/file.db")
    table: str
    watermark: str = Field(description="Column that only grows; rows above the last value are extracted.")
    batch_rows: int = Field(1_000_000, ge=1)

    @field_validator("url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://", "sqlite:///")):
            raise ValueError("must start with postgresql:// or sqlite:///")
        return value


SourceSettings = Annotated[
    DelimitedSource | FixedWidthSource | JsonLinesSource | RestApiSource | SqlDatabaseSource,
    Field(discriminator="kind"),
]


class RoleSettings(_Strict):
    pii: bool = Field(False, description="Sees names, e-mails, phones, birth dates, addresses unmasked.")
    sql: bool = Field(False, description="May use POST /v1/sql.")


class ServeSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8360, ge=1, le=65535)
    sql_timeout_seconds: float = Field(10.0, gt=0)
    store_url: str | None = Field(
        None,
        description="PostgreSQL URL of the profile store; default: SQLite (serving.db in the lake).",
    )
    roles: dict[str, RoleSettings] | None = Field(
        None, description="API roles; default: admin (pii, sql), analyst (sql), app (pii)."
    )


def role_table(serve: ServeSettings) -> dict[str, dict[str, bool]] | None:
    """The roles as the serving layer takes them (None: its defaults)."""
    if serve.roles is None:
        return None
    return {name: role.model_dump() for name, role in serve.roles.items()}


class Settings(_Strict):
    lake: LakeSettings = Field(default_factory=LakeSettings)
    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    segments: dict[str, str] = Field(
        default_factory=dict, description="Saved customer segments: name = SQL predicate over customer_360."
    )
    stream: StreamSettings = Field(default_factory=StreamSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)

    @field_validator("sources")
    @classmethod
    def _table_names(cls, sources: dict[str, SourceSettings]) -> dict[str, SourceSettings]:
        # A source name becomes the table raw.<name>, so it must be a plain identifier.
        for name in sources:
            if not SOURCE_NAME.fullmatch(name) or name == "batches":
                raise ValueError(
                    f"source name '{name}' must be lower-case letters, digits and _ "
                    "(starting with a letter), and not 'batches'"
                )
        return sources


class Project:
    """A loaded project: its directory and its validated settings."""

    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root.resolve()
        self.settings = settings

    @property
    def lake_dir(self) -> Path:
        return (self.root / self.settings.lake.path).resolve()

    def source_names(self, only: list[str] | None) -> list[str]:
        """The sources a command works on: those named (checked to exist), else all."""
        configured = self.settings.sources
        unknown = [name for name in only or [] if name not in configured]
        if unknown:
            raise ConfigError(
                f"no source named '{unknown[0]}' in {self.root / CONFIG_FILE}",
                hint=f"sources configured: {', '.join(configured) or 'none'}",
            )
        return only or list(configured)


SOURCE_KINDS = ("delimited", "fixed_width", "json_lines", "rest_api", "sql_database")


def _location(error: dict) -> str:
    # pydantic puts the discriminator's tag into the path (sources.a.delimited.path); users never wrote it.
    loc = list(error["loc"])
    if len(loc) > 2 and loc[0] == "sources" and loc[2] in SOURCE_KINDS:
        del loc[2]
    return ".".join(str(part) for part in loc)


def _fix_for(error: dict) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "remove it or check its spelling (see `c360 init` for every known key)"
    if kind == "missing":
        return "add it"
    if kind == "union_tag_invalid":
        return f"set kind to one of: {', '.join(SOURCE_KINDS)}"
    if kind == "union_tag_not_found":
        return f"add kind = one of: {', '.join(SOURCE_KINDS)}"
    return "correct the value"


def parse_settings(data: dict, origin: str) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(
            f"{origin}: invalid key '{_location(first)}': {first['msg']}", hint=_fix_for(first)
        ) from None


def load_project(directory: Path | str = ".") -> Project:
    root = Path(directory)
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"no {CONFIG_FILE} in {root.resolve()}",
            hint=f"run `c360 init {root}` to create a project, or pass --dir to an existing one",
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", hint="fix the syntax at that line") from None
    return Project(root, parse_settings(data, str(path)))
