"""The [identity] section of c360.toml: match threshold and golden-record survivorship."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

GOLDEN_ATTRIBUTES = (
    "first_name", "last_name", "email", "phone", "birth_date", "address", "city", "country",
)  # fmt: skip
Survivorship = Literal["most_recent", "most_trusted", "most_frequent"]
# Names and birth dates are most reliable where the customer proved them (the bank's CRM); contact
# details and addresses change, so the latest wins; country is noisy in sales files, so the majority.
DEFAULT_SURVIVORSHIP: dict[str, Survivorship] = {
    "first_name": "most_trusted",
    "last_name": "most_recent",
    "email": "most_recent",
    "phone": "most_recent",
    "birth_date": "most_trusted",
    "address": "most_recent",
    "city": "most_recent",
    "country": "most_frequent",
}


class IdentitySettings(BaseModel):
    # A misspelt key must fail loudly rather than silently fall back to a default.
    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(
        0.9, gt=0, le=1, description="Model edges at or above this match probability join two records."
    )
    source_trust: list[str] = Field(
        default_factory=lambda: ["crm", "dispositions", "store_users", "retail_orders", "web_visitors"],
        description="Sources from most to least trusted; a source not listed ranks after all listed.",
    )
    survivorship: dict[str, Survivorship] = Field(
        default_factory=lambda: dict(DEFAULT_SURVIVORSHIP),
        description="Rule per golden attribute: most_recent, most_trusted (source) or most_frequent; "
        "attributes not named keep their default rule.",
    )

    @field_validator("survivorship")
    @classmethod
    def _known_attributes(cls, rules: dict[str, Survivorship]) -> dict[str, Survivorship]:
        unknown = sorted(set(rules) - set(GOLDEN_ATTRIBUTES))
        if unknown:
            raise ValueError(f"unknown attributes {unknown}: choose among {list(GOLDEN_ATTRIBUTES)}")
        return {**DEFAULT_SURVIVORSHIP, **rules}

    def rule_for(self, attribute: str) -> Survivorship:
        return self.survivorship[attribute]
