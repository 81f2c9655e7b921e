"""Fixtures live in one module per stand-in, so each owner edits only its own file."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "fixtures_pipe",
    "fixtures_bitbucket",
    "fixtures_aws",
    "fixtures_gcp",
    "fixtures_azure",
    "fixtures_vm",
]


def pytest_configure(config: pytest.Config) -> None:
    """Start building the test VM images in the background while the other tests run (fixtures_vm)."""
    from fixtures_vm import start_image_build_in_background

    start_image_build_in_background(config)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on real VMs last: by then the image build that started with the session is done."""
    items.sort(key=lambda item: item.get_closest_marker("vm") is not None)
