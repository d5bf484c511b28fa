"""Serving: the profile store, the REST API (lookups, search, SQL, segments), API keys and roles.

- :mod:`c360.serve.store` publishes ``analytics.customer_360`` and an identifier map into the
  serving store (SQLite, WAL mode, ``<lake>/serving.db``) and reads profiles back;
- :mod:`c360.serve.auth` issues API keys, checks roles and writes the audit log;
- :mod:`c360.serve.sql` runs read-only SQL over the lake in a locked-down DuckDB;
- :mod:`c360.serve.app` is the FastAPI application (``create_app``).
"""
