"""Errors of identity resolution that the user can act on."""

from __future__ import annotations

from c360.errors import C360Error


class ModelDidNotConverge(C360Error):
    """EM training stopped at its iteration limit with parameters still moving."""

    def __init__(self, parameters: list[str], iterations: int) -> None:
        self.parameters = parameters
        shown = "; ".join(parameters[:8]) + (
            f" and {len(parameters) - 8} more" if len(parameters) > 8 else ""
        )
        super().__init__(
            f"the match model did not converge after {iterations} EM iterations; still changing: {shown}",
            hint="the previous model is kept; check the person records for a column that is mostly empty "
            "or constant, or retrain on more records (`c360 identity train`)",
        )


class NoUsableFields(C360Error):
    """The records have no column the matcher can compare."""
