"""Fixtures for azure tests (placeholder until written)."""
