"""Scenario 8 (issue 15): the pipe's own container image, built and run inside a test VM (see build.py)."""
