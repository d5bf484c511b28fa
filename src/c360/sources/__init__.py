"""Connectors: one module per kind of source system.

A connector only reads its source. Landing, deduplication and incremental state belong to the
framework (``c360.raw``), so every connector gets them the same way (the dlt design).
"""
