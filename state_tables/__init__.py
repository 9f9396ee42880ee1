"""The default state tables (data package)."""
