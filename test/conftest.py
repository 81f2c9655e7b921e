"""Fixtures live in one module per stand-in, so each owner edits only its own file."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "fixtures_pipe",
    "fixtures_bitbucket",
    "fixtures_aws",
    "fixtures_gcp",
    "fixtures_azure",
    "fixtures_kubernetes",
    "fixtures_clouds",
    "fixtures_vm",
    "group_summary",
]


@pytest.hookimpl(trylast=True)  # after `-m` deselected what will not run
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on real VMs last, and their images built in the background meanwhile (fixtures_vm)."""
    items.sort(key=lambda item: item.get_closest_marker("vm") is not None)
    if items and items[-1].get_closest_marker("vm") is not None:
        from fixtures_vm import start_image_build_in_background

        start_image_build_in_background()
