"""Engines that run SQL models: DuckDB now, Spark later, behind the same small functions.

An engine gets a model's SQL text, the file it came from and the lake tables it reads, and
returns Arrow. Everything engine-specific (connections, error positions, dialect checks) stays in
here, so the modeling layer never talks to DuckDB directly.
"""
