"""The lake: Iceberg tables in one namespace per zone, read and written through the catalog."""
