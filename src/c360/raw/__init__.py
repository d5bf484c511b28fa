"""The raw zone: every batch as received, with a manifest row per batch in ``raw.batches``."""
