"""README.md: the newcomer's two commands come first, and the generated parts match the declarations."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml
from fixtures_pipe import REPO_ROOT

from pipe.config import all_variables

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_first_lines_are_the_two_commands_and_the_makefile_has_them() -> None:
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    assert README.index("```sh") < README.index("\n## ")
    assert [line.split("#")[0].strip() for line in first_block.splitlines()] == ["make demo", "make test"]
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.MULTILINE) and re.search(r"^test:", makefile, re.MULTILINE)
    assert "DRY_RUN=true" in makefile and re.search(r"pytest -n (auto|\d+)", makefile)


def test_sections_in_atlassian_order() -> None:
    headings = re.findall(r"^## (.+)$", README, re.MULTILINE)
    assert headings == ["YAML Definition", "Variables", "Details", "Prerequisites", "Examples", "Support"]


def test_generated_parts_are_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "readme_variables.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_every_user_variable_is_in_the_table() -> None:
    table = README.split("<!-- generated:variables -->", 1)[1].split("<!-- /generated:variables -->", 1)[0]
    for variable in all_variables():
        if not variable.context:
            assert f"| {variable.name}" in table, variable.name


def test_image_in_examples_matches_pipe_yml() -> None:
    image = yaml.safe_load((REPO_ROOT / "pipe.yml").read_text(encoding="utf-8"))["image"]
    used = set(re.findall(r"pipe: docker://(\S+)", README))
    assert used == {image}
