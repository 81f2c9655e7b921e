"""README.md: the newcomer's two commands come first, the Atlassian shape in 15 KB, and the generated parts
(in the README and in every docs/ page) match the declarations."""

from __future__ import annotations

import re
import subprocess
import sys

import docs_pages
import yaml
from fixtures_pipe import REPO_ROOT

from pipe.config import all_variables

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
MODES = ("runner", "report", "pr", "sweep", "bake")
POLICIES = [f"docs/policies/{cloud}-{mode}.{ext}" for cloud, ext in (("aws", "json"), ("gcp", "yaml"),
            ("azure", "json")) for mode in ("runner", "bake", "sweep")]  # fmt: skip


def generated(page: str, name: str) -> str:
    body = docs_pages.text(page)
    return body.split(f"<!-- generated:{name} -->", 1)[1].split(f"<!-- /generated:{name} -->", 1)[0]


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


def test_the_readme_is_read_in_five_minutes() -> None:
    """At most 15 KB, the generated parts included (issue 28)."""
    assert len(README.encode("utf-8")) <= 15 * 1024


def test_the_readme_definition_is_runner_mode_with_its_required_variables_only() -> None:
    [snippet] = docs_pages.definitions("README.md")
    variables = yaml.safe_load(snippet)["script"][0]["variables"]
    required = {v.name for v in all_variables() if v.is_required("runner") and "runner" in v.modes}
    assert set(variables) == {"BITBUCKET_ACCESS_TOKEN"} | required
    assert "# Optional" not in snippet and "COMMAND" not in variables


def test_one_line_per_mode_links_its_page_and_each_page_has_the_whole_definition() -> None:
    for mode in (*MODES, "restore"):  # restore's page lists no Bitbucket token: MODES is for "all" variables
        [line] = [ln for ln in README.splitlines() if ln.startswith(f"- `{mode}`")]
        assert f"(docs/{mode}.md)" in line
        [snippet] = docs_pages.definitions(f"docs/{mode}.md")
        variables = yaml.safe_load(snippet)["script"][0]["variables"]
        assert variables.get("COMMAND", "runner") == mode
        assert "# Optional" in snippet


def test_prerequisites_link_every_policy_file_and_hold_the_kubernetes_role() -> None:
    """The cloud identity per cloud, with its policy files; the Kubernetes Role the pipe's own error names
    ("the Role in the README", pipe/providers/kubernetes/errors.py)."""
    prerequisites = README.split("\n## Prerequisites\n", 1)[1].split("\n## ", 1)[0]
    for policy in POLICIES:
        assert f"({policy})" in prerequisites, policy
    assert "kind: Role" in prerequisites
    for scope in ("read:runner:bitbucket", "write:runner:bitbucket", "write:pullrequest:bitbucket"):
        assert scope in prerequisites


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
    """Each variable is in its mode's page (and every cloud variable in its cloud's page too)."""
    tables = {page: generated(page, "variables") for page in docs_pages.pages() if "generated:variables" in
              docs_pages.text(page)}  # fmt: skip
    for variable in all_variables():
        if variable.context:
            continue
        if variable.testing:
            assert f"| {variable.name}" in tables["docs/development.md"], variable.name
            continue
        for mode in MODES if "all" in variable.modes else variable.modes:
            assert f"| {variable.name}" in tables[f"docs/{mode}.md"], (variable.name, mode)


def test_image_in_examples_matches_pipe_yml() -> None:
    image = yaml.safe_load((REPO_ROOT / "pipe.yml").read_text(encoding="utf-8"))["image"]
    used = {page: set(re.findall(r"pipe: docker://(\S+)", docs_pages.text(page))) for page in docs_pages.pages()}
    assert {image} == set().union(*used.values()), used
    assert used["README.md"] == {image}


def test_the_release_step_updates_every_page_that_names_the_image() -> None:
    """The release rewrites the image's version in each file that names it: the README, the docs/ pages and
    the example repositories now hold examples too."""
    pipelines = yaml.safe_load((REPO_ROOT / "bitbucket-pipelines.yml").read_text(encoding="utf-8"))
    script = [line for step in pipelines["pipelines"]["branches"]["main"] if "step" in step
              for line in step["step"].get("script", [])]  # fmt: skip
    [sed] = [line for line in script if isinstance(line, str) and line.startswith("sed -i") and "cml-runner:" in line]
    rewritten = {p.relative_to(REPO_ROOT).as_posix() for arg in sed.split()[3:] for p in REPO_ROOT.glob(arg)}
    image = yaml.safe_load((REPO_ROOT / "pipe.yml").read_text(encoding="utf-8"))["image"]
    naming = {page for page in docs_pages.pages() if image in docs_pages.text(page)}
    naming |= {p.relative_to(REPO_ROOT).as_posix() for p in REPO_ROOT.glob("examples/*/bitbucket-pipelines.yml")}
    assert naming <= rewritten
