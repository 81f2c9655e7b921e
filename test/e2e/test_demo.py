"""The one-command demo, end to end and headless: every artefact it prints exists in the local servers' state.

The demo (demo/run.py) runs as users run it, as a child process; --state-out gives the local Bitbucket's and
the local cloud's final state, which is what the printed instance, runner, PR, comment, Code Insights report
and HTML page are checked against. Also: the example repository's pipeline is valid and consistent with what
the demo plays, and Ctrl-C stops every process the demo started.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures_pipe import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "seeds"
DEMO = REPO_ROOT / "demo" / "run.py"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
REPO = "acme/ml-seeds"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return {**env, "PYTHONUNBUFFERED": "1"}


@dataclass
class DemoRun:
    returncode: int
    stdout: str
    state: dict[str, Any]
    sections: dict[str, list[str]] = field(default_factory=dict)

    def value(self, section: str, key: str) -> str:
        """'  key: value' in the section whose title starts with `section`."""
        [lines] = [v for k, v in self.sections.items() if k.startswith(section)]
        for line in lines:
            if line.startswith(f"  {key}: "):
                return line[len(key) + 4 :]
        raise AssertionError(f"no {key!r} in section {section!r}:\n" + "\n".join(lines))


def parse_sections(stdout: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in stdout.splitlines():
        m = re.match(r"^--- (.+?) -*$", line)
        if m:
            current = sections.setdefault(m.group(1), [])
        elif current is not None:
            current.append(line)
    return sections


def run_demo(cloud: str, tmp_path: Path) -> DemoRun:
    state_file = tmp_path / "state.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(DEMO),
            "--cloud",
            cloud,
            "--workdir",
            str(tmp_path / "work"),
            "--state-out",
            str(state_file),
        ],
        cwd=str(REPO_ROOT),
        env=demo_env(),
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    stdout = _ANSI.sub("", proc.stdout)
    assert proc.returncode == 0, stdout + proc.stderr
    state = json.loads(state_file.read_text(encoding="utf-8"))
    return DemoRun(proc.returncode, stdout, state, parse_sections(stdout))


def cloud_instances(cloud: str, state: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Instance id -> tags (labels on GCP), as the emulated cloud holds them."""
    if cloud == "aws":
        return {
            i["InstanceId"]: {t["Key"]: t["Value"] for t in i.get("Tags", [])}
            for i in state["instances"]
            if i["State"]["Name"] in ("pending", "running")
        }
    if cloud == "gcp":
        return {i["name"]: dict(i.get("labels") or {}) for i in state["instances"] if i["status"] == "RUNNING"}
    if cloud == "kubernetes":  # a Job of ours whose pod runs
        running = {p["metadata"]["labels"].get("batch.kubernetes.io/job-name") for p in state["pods"]
                   if p["status"].get("phase") == "Running"}  # fmt: skip
        return {j["metadata"]["name"]: dict(j["metadata"]["labels"]) for j in state["jobs"]
                if j["metadata"]["name"] in running}  # fmt: skip
    out = {}
    for group, content in state["resource_groups"].items():
        for resource in content["resources"]:
            if resource["type"].lower() == "microsoft.compute/virtualmachines":
                out[group] = dict(resource.get("tags") or {})
    return out


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        self._in_cell = tag in ("td", "th")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells.append(data.strip())


def example_pipeline() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLE / "bitbucket-pipelines.yml").read_text(encoding="utf-8"))
    return doc


def steps() -> list[dict[str, Any]]:
    return [s["step"] for s in example_pipeline()["pipelines"]["branches"]["main"]]


def pipe_variables(step: dict[str, Any]) -> dict[str, Any]:
    [pipe] = [item for item in step["script"] if isinstance(item, dict) and "pipe" in item]
    variables: dict[str, Any] = pipe["variables"]
    return variables


# ----------------------------------------------------------------------------------------------- the example


def test_example_pipeline_is_valid_against_bitbucket_schema() -> None:
    proc = subprocess.run(
        [
            str(CHECK_JSONSCHEMA),
            "--builtin-schema",
            "vendor.bitbucket-pipelines",
            str(EXAMPLE / "bitbucket-pipelines.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_example_pipeline_is_the_seeds_scenario() -> None:
    runner, train = steps()
    image = yaml.safe_load((REPO_ROOT / "pipe.yml").read_text(encoding="utf-8"))["image"]
    runner_vars, pr_vars = pipe_variables(runner), pipe_variables(train)
    assert [i["pipe"] for s in (runner, train) for i in s["script"] if isinstance(i, dict)] == [f"docker://{image}"] * 2
    assert runner["oidc"] is True and runner_vars["AWS_OIDC_ROLE_ARN"] == "$AWS_OIDC_ROLE_ARN"
    assert {"CLOUD", "CLOUD_REGION", "CLOUD_TYPE", "CLOUD_GPU", "LABELS"} <= set(runner_vars)
    assert runner_vars["BITBUCKET_ACCESS_TOKEN"] == pr_vars["BITBUCKET_ACCESS_TOKEN"] == "$BITBUCKET_ACCESS_TOKEN"
    # The training step runs on the runner the first step starts.
    assert train["runs-on"] == ["self.hosted", *runner_vars["LABELS"].split(",")]
    assert train["script"].index("python data.py") < train["script"].index("python train.py")
    assert pr_vars["COMMAND"] == "pr"
    assert "model/random_forest.joblib" in pr_vars["FILES"]
    assert (pr_vars["REPORT_FILE"], pr_vars["METRICS_FILE"]) == ("report.md", "metrics.json")
    pins = (EXAMPLE / "requirements.txt").read_text(encoding="utf-8")
    for package in ("scikit-learn", "joblib", "matplotlib"):
        assert re.search(rf"^{package}==[0-9.]+$", pins, re.MULTILINE), package


# ----------------------------------------------------------------------------------------------- the demo


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure", "kubernetes"])
@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_demo_prints_what_exists_in_the_local_servers(cloud: str, tmp_path: Path) -> None:
    started = time.monotonic()
    demo = run_demo(cloud, tmp_path)
    elapsed = time.monotonic() - started
    bb = demo.state["bitbucket"]["repositories"][REPO]
    out = demo.stdout

    # One numbered line per phase, each with its time; everything stopped at the end.
    assert [int(n) for n in re.findall(r"^\[(\d)/7\]", out, re.MULTILINE)] == list(range(1, 8))
    assert len(re.findall(r"^      done in \d+\.\ds", out, re.MULTILINE)) == 7
    assert "Demo finished in" in out and "Traceback" not in out
    for what, pid in demo.state["pids"].items():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
            pytest.fail(f"{what} (pid {pid}) is still running")

    # The runner: ONLINE in the local Bitbucket, with the labels printed.
    name, runner_uuid = demo.value("The runner", "runner").split()
    [runner] = [r for r in bb["runners"] if r["uuid"] == runner_uuid]
    assert runner["name"] == name
    assert runner["state"]["status"] == demo.value("The runner", "status") == "ONLINE"
    assert runner["_fake"]["oauth_presented"] >= 1  # the VM stand-in signed in with its credentials
    labels = demo.value("The runner", "labels").split(", ")
    assert labels == runner["labels"] and {"self.hosted", "linux", "cml.runner"} <= set(labels)

    # The instance: in the emulated cloud, running, with our tags as printed.
    instance_id = demo.value("The instance", "instance")
    instances = cloud_instances(cloud, demo.state["cloud_state"])
    assert instance_id in instances, instances
    tags = instances[instance_id]
    assert tags["cml-managed-by"] == "cml-runner-pipe"
    assert tags["cml-runner-uuid"] == runner_uuid.strip("{}")
    assert (tags["cml-repository"], tags["cml-runner-scope"]) == (bb["uuid"].strip("{}"), "repository")
    [instance_lines] = [v for k, v in demo.sections.items() if k.startswith("The instance")]
    printed_tags = dict(line.strip().split(" = ", 1) for line in instance_lines if " = " in line)
    assert printed_tags == tags

    # The PR: its branch and commit exist, and the commit holds the model and the metrics.
    m = re.fullmatch(r"#(\d+) '(.*)' \(OPEN\)", demo.value("The pull request", "pull request"))
    assert m, demo.value("The pull request", "pull request")
    pr_id = int(m.group(1))
    [pr] = [p for p in bb["pullrequests"] if p["id"] == pr_id]
    assert pr["title"] == m.group(2) and pr["state"] == "OPEN"
    source, destination = demo.value("The pull request", "branch").split(" -> ")
    assert (pr["source"]["branch"]["name"], pr["destination"]["branch"]["name"]) == (source, destination)
    commit = pr["source"]["commit"]["hash"]
    assert bb["branches"][source] == commit and demo.value("The pull request", "commit").startswith(commit[:12])
    files = demo.value("The pull request", "files in the commit").split(", ")
    assert files == ["metrics.json", "model/random_forest.joblib"]
    assert set(files) <= set(bb["commits"][commit]["files"])
    main_head = bb["branches"]["main"]
    assert bb["commits"][commit]["parents"] == [main_head]
    assert "train.py" in bb["commits"][main_head]["files"]  # main holds the example repository

    # The report comment: on that PR, with the confusion matrix uploaded to Downloads and the metrics table.
    comment_id = int(demo.value("The report comment", "comment"))
    [comment] = [c for c in bb["comments"] if c["id"] == comment_id]
    assert comment["pullrequest"]["id"] == pr_id
    raw = comment["content"]["raw"]
    assert "# Training report" in raw and "| metrics.json | accuracy |" in raw
    [png] = [d for d in bb["downloads"] if d["name"].endswith("confusion_matrix.png")]
    assert png["name"] in raw

    # Code Insights: on the PR's commit (where Bitbucket shows it), PASSED by the example's threshold.
    report_id = demo.value("Code Insights", "report")
    [report] = [r for r in bb["reports"] if r["id"] == report_id]
    pr_commit = demo.value("The pull request", "commit").split()[0]
    assert report["commit"].startswith(pr_commit) and f"Code Insights on commit {pr_commit}" in out
    assert report["result"] == "PASSED"
    assert {d["title"] for d in report["data"]} >= {"accuracy", "f1_macro"}

    # The HTML page: the comment rendered, its metrics table and the image inlined.
    html_path = Path(demo.value("The report as it renders", "html"))
    page = _Html()
    page.feed(html_path.read_text(encoding="utf-8"))
    assert "table" in page.tags and {"accuracy", "f1_macro", "metrics.json"} <= set(page.cells)
    [image] = page.images
    assert image.startswith("data:image/png;base64,")
    assert len(base64.b64decode(image.split(",", 1)[1])) == png["size"]

    assert elapsed < 90, f"the demo took {elapsed:.0f}s"


def test_ctrl_c_stops_every_process_the_demo_started(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    proc = subprocess.Popen(
        [sys.executable, str(DEMO), "--workdir", str(tmp_path / "work"), "--state-out", str(state_file)],
        cwd=str(REPO_ROOT),
        env=demo_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "runner mode (pid" in line:  # runner mode is running: the demo has a server and a pipe to stop
                proc.send_signal(signal.SIGINT)
                break
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(seen) + rest
    assert proc.returncode == 130, out
    assert "Interrupted (Ctrl-C): stopping everything" in out
    state = json.loads(state_file.read_text(encoding="utf-8"))
    pids = state["pids"]
    assert {"cloud server", "runner mode"} <= set(pids)
    # Stopped mid-way, runner mode rolled back whatever it had created (the servers outlive the pipe).
    assert state["bitbucket"]["repositories"][REPO]["runners"] == []
    assert cloud_instances("aws", state["cloud_state"]) == {}
    for what, pid in pids.items():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
            pytest.fail(f"{what} (pid {pid}) is still running")
