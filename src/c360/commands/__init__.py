"""Sub-command groups of the ``c360`` command, one module per area, loaded only when used."""
