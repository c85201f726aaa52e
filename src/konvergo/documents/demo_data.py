"""Demo data for documents (filled in below)."""
