"""JSON Schemas (data package)."""
