"""The service desk part of the demo company (filled in below)."""
