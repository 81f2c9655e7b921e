"""Fixtures for gcp tests (placeholder until written)."""
