"""Fixtures live in one module per stand-in, so each owner edits only its own file."""

pytest_plugins = [
    "fixtures_pipe",
    "fixtures_bitbucket",
    "fixtures_aws",
    "fixtures_gcp",
    "fixtures_azure",
    "fixtures_vm",
]
