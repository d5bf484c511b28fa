"""Projects the tests build: c360.toml files pointing at real files, as a user would write them."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "aws-c360"

SAMPLES_CONFIG = f"""
[sources.crm]
kind = "json_lines"
path = "{SAMPLES}/crm/*.json"
format = "python"

[sources.accounts]
kind = "delimited"
path = "{SAMPLES}/account/*.csv"
header = false
columns = ["account_id", "branch_id", "frequency", "date_of_creation"]

[sources.cards]
kind = "delimited"
path = "{SAMPLES}/card/*.csv"
header = false
columns = ["card_id", "disp_id", "type", "issued_datetime"]

[sources.dispositions]
kind = "delimited"
path = "{SAMPLES}/gbank/*.csv"
header = false
columns = ["account_id", "disp_id", "client_id", "type"]

[sources.web_visitors]
kind = "delimited"
path = "{SAMPLES}/visitors/*.csv"
header = false
columns = ["fullVisitorId", "client_id"]

[sources.web_sessions]
kind = "json_lines"
path = "{SAMPLES}/ga/*/*.json"

[sources.retail]
kind = "delimited"
path = "{SAMPLES}/retail/*.csv"
contract = "retail_orders"
"""


def write_project(directory: Path, config: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "c360.toml").write_text(config, encoding="utf-8")
    return directory
