"""COMMAND: bake on GCP end to end: the real entry point process against the local Compute Engine (which keeps
GCE's image rules, support/fakes/gcp/images.py), with a guest stand-in that runs each bake instance's real
startup-script in the sandboxed VM and leaves the instance TERMINATED when the script powers off, as GCE does.
After every failure the emulated cloud is listed: no instance, disk or image of the bake is left."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from bake_guest import PollingBakeGuest
from fakes.gcp import FakeGcp
from fixtures_pipe import output_lines, run_pipe, strip_ansi
from test_bake_aws import failure_line, start_pipe, wait_for

REPO_TAG = "11111111-2222-3333-4444-555555555555"  # fixtures_pipe BASE_ENV's BITBUCKET_REPO_UUID
UBUNTU = (
    "https://www.googleapis.com/compute/v1/projects/ubuntu-os-cloud/global/images/ubuntu-2404-noble-amd64-v20261101"
)


class GcpBakeGuest(PollingBakeGuest):
    """Plays the bake's VM: runs the instance's startup-script (the bake role) in a sandbox, puts its output on
    serial port 1 (where GCE's guest agent logs a startup-script's output), then, as the guest's power-off does on
    GCE, leaves the instance TERMINATED with its disk (bake_guest.py: only on the script's power-off or its armed
    timer). hang=True: never powers off."""

    def __init__(self, gcp: FakeGcp, hang: bool = False, sandbox: dict[str, Any] | None = None) -> None:
        super().__init__(hang, sandbox)
        self.gcp = gcp

    def running_bakes(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (raw["name"], raw)
            for raw in self.gcp.instances()
            if (raw.get("labels") or {}).get("cml-role") == "bake" and raw.get("status") == "RUNNING"
        ]

    def script_of(self, raw: dict[str, Any]) -> bytes:
        # What keeps the disk for the image: the power-off leaves the instance, nothing deletes it on stop.
        assert "instanceTerminationAction" not in raw["scheduling"] and raw["scheduling"]["provisioningModel"] == (
            "STANDARD"
        ), "a Spot or maxRunDuration instance would be deleted, with its disk, when the guest powers off"
        items = {i["key"]: i.get("value", "") for i in raw["metadata"]["items"]}
        return str(items["startup-script"]).encode()

    def write_console(self, key: str, text: str) -> None:
        self.gcp.write_console(key, "".join(f"google_metadata_script_runner: startup-script: {line}\n"
                                            for line in text.splitlines()))  # fmt: skip

    def power_off(self, key: str) -> None:
        self.gcp.power_off(key)


@pytest.fixture()
def env(gcp_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **gcp_env,
        "COMMAND": "bake",
        "CLOUD_REGION": "us-west",
        "CML_RUNNER_POLL_SECONDS": "0.1",
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path),
    }


def assert_nothing_left(gcp: FakeGcp) -> None:
    assert gcp.instances() == [], "an instance of the bake is still alive"
    assert gcp.disks() == [], "a disk of the bake is left"
    assert gcp.images_of() == [], "an image of the bake is left"


def test_bake_makes_one_labelled_image_in_a_family_of_ours_from_the_stopped_instance_and_keeps_nothing_else(
    env: dict[str, str], fake_gcp: FakeGcp, tmp_path: Path
) -> None:
    with GcpBakeGuest(fake_gcp) as guest:
        proc = run_pipe(env)
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    [image] = fake_gcp.images_of()
    path = f"projects/{fake_gcp.project}/global/images/{image['name']}"
    assert re.search(rf"Baked image {path} \(cml-baked-[0-9a-f]{{12}}-\d{{10}}, recipe [0-9a-f]{{12}}: base "
                     rf"{UBUNTU}, runner image \S+, bake script v2, CPU\)", out), out  # fmt: skip
    labels = image["labels"]
    assert labels["cml-managed-by"] == "cml-runner-pipe" and labels["cml-repository"] == REPO_TAG
    assert labels["cml-role"] == "baked-image" and re.fullmatch(r"[0-9a-f-]{36}", labels["cml-bake-id"])
    assert image["name"] == f"cml-baked-{labels['cml-recipe']}-{labels['cml-created-at']}"
    assert image["family"] == f"cml-{REPO_TAG}-{labels['cml-recipe']}" and image["status"] == "READY"
    # Made from the bake instance's boot disk, which went with the instance (autoDelete): nothing else is left.
    [(name, console)] = guest.outputs.items()
    assert image["sourceDisk"].endswith(f"/disks/{name}")
    assert f"recipe {labels['cml-recipe']}" in console and "powering off for the image" in console
    assert fake_gcp.instances() == [] and fake_gcp.disks() == []
    [insert] = fake_gcp.calls("compute.images.insert")
    assert insert.query.get("forceCreate") in (None, "false")
    assert path in (tmp_path / "cml-runner" / "image.json").read_text()
    assert fake_gcp.validation_errors == []


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ({"method": "instances.insert", "status": 403, "message": "Required 'compute.instances.create' permission"},
         "compute.instances.create"),
        ({"method": "images.insert", "status": 403, "message": "Required 'compute.images.create' permission"},
         "compute.images.create and compute.disks.useReadOnly"),
        ({"method": "images.insert", "status": 503, "times": None}, "GCP API unavailable while trying to make image"),
        ({"method": "images.get", "status": 403, "message": "Required 'compute.images.get' permission"},
         "compute.images.get"),
    ],
    ids=["launch", "create-image-denied", "create-image-unavailable", "read-image"],
)  # fmt: skip
def test_a_failure_at_each_step_leaves_nothing(
    env: dict[str, str], fake_gcp: FakeGcp, fault: dict[str, Any], said: str
) -> None:
    method = str(fault.pop("method"))
    fake_gcp.fail(method, int(fault.pop("status")), **fault)
    with GcpBakeGuest(fake_gcp):
        proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert said in failure_line(proc), failure_line(proc)
    if method != "instances.insert":
        assert "rolled back" in failure_line(proc)
    assert_nothing_left(fake_gcp)


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_an_image_the_cloud_fails_to_make_is_deleted_with_the_instance_and_its_disk(
    env: dict[str, str], fake_gcp: FakeGcp
) -> None:
    fake_gcp.image_rules.fail_new = True
    with GcpBakeGuest(fake_gcp):
        proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "could not make image" in failure_line(proc) and "rolled back" in failure_line(proc)
    assert_nothing_left(fake_gcp)


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_sigterm_while_the_bake_instance_installs_deletes_it_and_its_disk(
    env: dict[str, str], fake_gcp: FakeGcp
) -> None:
    with GcpBakeGuest(fake_gcp, hang=True) as guest:
        proc = start_pipe(env)
        wait_for(lambda: bool(guest.outputs))
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stdout + stderr
    assert "stopped by SIGTERM" in strip_ansi(stdout)
    assert_nothing_left(fake_gcp)


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_sigterm_during_image_creation_waits_for_gce_to_let_the_pending_image_go_then_deletes_it_and_the_instance(
    env: dict[str, str], fake_gcp: FakeGcp
) -> None:
    fake_gcp.image_rules.hold_pending = True
    with GcpBakeGuest(fake_gcp):
        proc = start_pipe(env)
        wait_for(lambda: bool(fake_gcp.image_rules.created))
        time.sleep(0.3)  # the pipe is polling the pending image
        proc.send_signal(signal.SIGTERM)
        # GCE refuses to delete an image still being made (resourceNotReady): the rollback waits for it.
        wait_for(lambda: any(r.status == 400 for r in fake_gcp.calls("compute.images.delete")))
        assert proc.poll() is None and fake_gcp.images_of() != []
        fake_gcp.release_images()  # the creation ends, as it does on GCE after minutes
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stdout + stderr
    assert "stopped by SIGTERM" in strip_ansi(stdout) and "rolled back" in strip_ansi(stdout)
    assert_nothing_left(fake_gcp)


def test_bake_never_images_the_disk_of_a_running_instance(fake_gcp: FakeGcp, gcp_provider: Any) -> None:
    """The local GCE's rule the pipe relies on: no image of a disk in use by a running instance without
    forceCreate; the pipe never forces, so a guest that did not power off gives an error, not a torn image."""
    from pipe.providers.base import Instance, ProviderError

    fake_gcp.add_instance("us-west1-b", "cml-bake-running")
    fake_gcp.state.disks[(fake_gcp.project, "us-west1-b", "cml-bake-running")] = {
        "name": "cml-bake-running", "id": "1", "sizeGb": "10", "users": [fake_gcp.instances()[0]["selfLink"]],
        "selfLink": f"{fake_gcp.instances()[0]['zone']}/disks/cml-bake-running",
    }  # fmt: skip
    fake_gcp.state.instances[(fake_gcp.project, "us-west1-b", "cml-bake-running")]["disks"] = [
        {"boot": True, "source": f"{fake_gcp.instances()[0]['zone']}/disks/cml-bake-running", "autoDelete": True}
    ]
    running = Instance("gcp", "cml-bake-running", "cml-bake-running", "us-west1", "us-west1-b", "e2-small", False,
                       "running")  # fmt: skip
    tags = {"cml-managed-by": "cml-runner-pipe", "cml-repository": REPO_TAG, "cml-recipe": "0" * 12}
    with pytest.raises(ProviderError, match=r"disk resource .*cml-bake-running' is already being used by"):
        gcp_provider.create_image(running, "cml-baked-000000000000-0000000100", tags)
    assert fake_gcp.images_of() == []


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_a_failure_to_delete_the_instance_after_the_image_is_made_rolls_everything_back(
    env: dict[str, str], fake_gcp: FakeGcp
) -> None:
    fake_gcp.fail("instances.delete", 403, message="Required 'compute.instances.delete' permission")
    with GcpBakeGuest(fake_gcp):
        proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "compute.instances.delete" in failure_line(proc) and "rolled back" in failure_line(proc)
    assert [r.status for r in fake_gcp.calls("compute.images.insert")] == [200]  # the image had been made
    assert_nothing_left(fake_gcp)


def test_a_bake_instance_deleted_by_someone_else_before_it_powers_off_fails_and_leaves_nothing(
    env: dict[str, str], fake_gcp: FakeGcp
) -> None:
    with GcpBakeGuest(fake_gcp, hang=True) as guest:
        proc = start_pipe(env)
        wait_for(lambda: bool(guest.outputs))
        [raw] = fake_gcp.instances()
        api = f"{fake_gcp.url}/compute/v1/"
        op = requests.delete(api + raw["selfLink"].split("/compute/v1/")[1], timeout=5).json()
        while op["status"] != "DONE":  # GCE finishes the deletion by itself; here, as it is waited on
            op = requests.post(api + op["selfLink"].split("/compute/v1/")[1] + "/wait", timeout=5).json()
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stdout + stderr
    assert "ended before powering off" in strip_ansi(stdout)
    assert_nothing_left(fake_gcp)


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_a_bake_whose_install_fails_powers_off_by_its_timer_and_makes_no_image(
    env: dict[str, str], fake_gcp: FakeGcp
) -> None:
    with GcpBakeGuest(fake_gcp, sandbox={"apt_missing": ("docker.io",)}) as guest:
        proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert list(guest.powered_off.values()) == ["timer"]
    out = "\n".join(output_lines(proc))
    assert "startup-script: cml-runner: step docker: FAILED (exit 100)" in out  # serial port 1, as GCE logs it
    assert "without 'cml-runner: bake succeeded for recipe " in failure_line(proc)
    assert_nothing_left(fake_gcp)
