"""The interface every profile store implements (SQLite by default, PostgreSQL as an option).

A store serves one published *version* at a time: a publish writes a complete new version beside
the current one and then moves a pointer in one transaction, so a reader sees the old version or
the new one, never a half-written set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from c360.errors import C360Error

IDENTIFIER_KINDS = ("client_id", "email", "phone", "visitor_id", "user_id", "order_id", "record")
# Versions kept: the current one and the previous one (a reader that read the pointer just
# before a switch still finds its version).
KEEP_VERSIONS = 2


# Told, after each batch a publish writes, which part ("profiles", "search", "vocab",
# "identifiers") grew by how many rows: the CLI draws progress bars with it.
PublishProgress = Callable[[str, int], None]


class StoreError(C360Error):
    exit_code = 2


@dataclass(frozen=True)
class PublishResult:
    version: int
    location: str
    snapshot_date: str | None
    customers: int
    identifiers: int
    seconds: float


def lookup_value(kind: str, value: str) -> str:
    """An identifier as the map stores it: e-mails trimmed and lower-case, others as given."""
    return value.strip().lower() if kind == "email" else value


def customers_by_value(values: list[str], rows: Iterable[tuple[str, int]]) -> dict[str, tuple[int, ...]]:
    """Group (value, customer_id) rows, read in customer_id order, per asked value (none: empty)."""
    found: dict[str, list[int]] = {value: [] for value in values}
    for value, customer in rows:
        found[value].append(customer)
    return {value: tuple(customers) for value, customers in found.items()}


class ProfileReader(Protocol):
    """Reads of the current version; each call is consistent with one published version.

    Stores subclass it, so that what every store does alike (``lookup``) is written once here.
    """

    def info(self) -> dict[str, Any]:
        """version, published_at, snapshot_date, customers."""
        ...

    def get_json(self, customer_id: int) -> str | None:
        """The profile document of ``customer_id`` as stored (JSON text), or None."""
        ...

    def lookup_json(self, kind: str, value: str) -> list[str]:
        """The documents of every customer an identifier maps to, by customer_id."""
        ...

    def lookup(self, kind: str, value: str) -> list[dict[str, Any]]:
        """``lookup_json`` decoded."""
        return [json.loads(document) for document in self.lookup_json(kind, value)]

    def customer_ids(self, kind: str, values: list[str]) -> dict[str, tuple[int, ...]]:
        """Each identifier value of one kind → the customers it maps to (many values at once)."""
        ...

    def identifiers(self, customer_id: int) -> list[tuple[str, str]]:
        """The reverse map: every (kind, value) of the customer, by kind and value."""
        ...

    def search(self, text: str, limit: int, offset: int) -> tuple[int, list[tuple[float, dict[str, Any]]]]:
        """(candidates, page of (score, profile)), best first."""
        ...

    def close(self) -> None: ...
