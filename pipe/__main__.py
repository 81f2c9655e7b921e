"""`python -m pipe`: the same entry point as the Docker image's ENTRYPOINT."""

from pipe.pipe import entry

entry()
