"""KPI dashboards and the data-quality report: one renderer for ``c360 report`` and ``/dashboards``."""
