"""Which columns are PII (the ``[pii]`` tags of the model headers), and how they are masked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from c360.config import Project

PROFILE_TABLE = "analytics.customer_360"
MASK = "***"


def pii_columns_by_table(project: Project | None) -> dict[str, frozenset[str]]:
    """Model name → its columns tagged ``[pii]`` in the model header (built-in or project models)."""
    from c360.modeling.project import load_models

    return {
        model.name: frozenset(name for name, doc in model.header.columns.items() if doc.pii)
        for model in load_models(project)
    }


def mask_value(column: str, value: Any) -> Any:
    """'jane.doe@example.com' → 'j***@example.com'; any other non-null value → '***'."""
    if value is None:
        return None
    if column == "email" and isinstance(value, str) and "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}{MASK}@{domain}"
    return MASK


def mask_row(row: dict[str, Any], pii: frozenset[str]) -> dict[str, Any]:
    return {key: mask_value(key, value) if key in pii else value for key, value in row.items()}


def mask_arrow(table: pa.Table, pii: frozenset[str]) -> pa.Table:
    """The PII columns of ``table`` replaced by masked text (so SQL can never read the real values)."""
    for index, field in enumerate(table.schema):
        if field.name in pii:
            values = [mask_value(field.name, value) for value in table.column(index).to_pylist()]
            table = table.set_column(index, pa.field(field.name, pa.string()), pa.array(values, pa.string()))
    return table
