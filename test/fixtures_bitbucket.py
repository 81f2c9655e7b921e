"""Fixtures for bitbucket tests (placeholder until written)."""
