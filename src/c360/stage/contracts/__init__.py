"""The built-in contracts of the reference sources, one TOML file each (see docs/contracts.md)."""
