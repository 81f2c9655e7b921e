"""Benchmarks of the pipe against the local servers: `python bench/run.py` (see bench/README.md)."""
