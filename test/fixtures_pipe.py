"""Fixtures for pipe tests (placeholder until written)."""
