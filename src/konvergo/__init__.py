"""Konvergo: customers, processes, tickets and documents in one system."""

__version__ = "0.1.0"
