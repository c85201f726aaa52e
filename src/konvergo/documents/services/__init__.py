"""Writes of the documents app, one module per area."""
