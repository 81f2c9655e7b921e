"""COMMAND: bake's variables through the real entry point: what it refuses before any cloud call, in one line."""

from __future__ import annotations

import pytest
from fixtures_pipe import run_pipe, strip_ansi


def last_line(out: str) -> str:
    return strip_ansi(out).strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"CLOUD": "kubernetes"},
         "CLOUD: 'kubernetes' is not valid; COMMAND: bake makes a VM image: use aws, gcp or azure"),
        ({"CLOUD": "aws", "CLOUD_IMAGE": "stock"},
         "CLOUD_IMAGE: 'stock' is not valid; with COMMAND: bake, the base image"),
        ({"CLOUD": "aws", "CLOUD_IMAGE": "STOCK", "DRY_RUN": "true"}, "CLOUD_IMAGE: 'stock' is not valid"),
    ],
)  # fmt: skip
def test_bake_refuses_what_it_cannot_bake_in_one_line(env: dict[str, str], said: str) -> None:
    proc = run_pipe({"COMMAND": "bake", **env})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert said in last_line(proc.stdout) and "Traceback" not in proc.stdout + proc.stderr


def test_runner_mode_takes_cloud_image_stock_in_any_case_and_plans_the_stock_image() -> None:
    proc = run_pipe({"CLOUD": "aws", "CLOUD_IMAGE": "Stock", "DRY_RUN": "true"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "image: ubuntu/images/" in proc.stderr and "stock (CLOUD_IMAGE: stock)" in proc.stderr


def test_runner_mode_plans_a_baked_image_when_cloud_image_is_unset() -> None:
    proc = run_pipe({"CLOUD": "aws", "DRY_RUN": "true"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "image: a baked image of ours for the current recipe if the region has one" in proc.stderr
