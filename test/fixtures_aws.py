"""Fixtures for aws tests (placeholder until written)."""
