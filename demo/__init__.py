"""The one-command local demo of the whole pipe: see demo/run.py."""
