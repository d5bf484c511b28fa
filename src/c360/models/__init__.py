"""The built-in SQL models: one ``.sql`` file per lake table, in the portable DuckDB subset.

Each file starts with a header of ``-- key: value`` lines (model, description, grain, partition,
tests, column docs) read by :mod:`c360.modeling.header`. A project overrides a built-in model by
putting a file that declares the same model name in its own ``models/`` directory.
"""
