"""COMMAND: bake on Azure end to end: the real entry point process against the local Azure (which keeps Azure's
capture rules, support/fakes/azure/images.py), with a guest stand-in that runs each bake VM's real custom data in
the sandboxed VM and leaves the VM "stopped" (still allocated, as a guest's power-off does on Azure) when the
script powers off. After every failure, the emulated cloud is listed: no resource group (so no VM, OS disk, NIC,
public IP, VNet or NSG) and no image of the bake is left."""

from __future__ import annotations

import re
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from bake_guest import power_off_reason
from fakes.azure import FakeAzure
from fixtures_pipe import output_lines, run_pipe, strip_ansi
from test_bake_aws import failure_line, start_pipe, wait_for
from vm_sandbox import VmSandbox

from pipe.providers.catalog import DEFAULT_IMAGES

REPO_TAG = "11111111-2222-3333-4444-555555555555"  # fixtures_pipe BASE_ENV's BITBUCKET_REPO_UUID
AZURE_BASE_IMAGE = DEFAULT_IMAGES["azure"][0]
IMAGES = "Microsoft.Compute/images"


class AzureBakeGuest:
    """Plays the bake's VM: runs its custom data (the bake role) in a sandbox when the local Azure creates a VM in
    a bake group, puts its output in the VM's boot diagnostics serial log, then, as the guest's power-off does on
    Azure, leaves the VM stopped but allocated (bake_guest.py: only on the script's power-off or its armed timer).
    hang=True: never powers off."""

    def __init__(self, azure: FakeAzure, hang: bool = False, sandbox: dict[str, Any] | None = None) -> None:
        self.azure, self.hang, self.sandbox = azure, hang, dict(sandbox or {})
        self.outputs: dict[str, str] = {}
        self.errors: list[BaseException] = []
        self._dir = tempfile.mkdtemp(prefix="azure-bake-guest-")
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> AzureBakeGuest:
        self.azure.on_vm_created = self._created
        return self

    def __exit__(self, *exc: object) -> None:
        self.azure.on_vm_created = None
        for thread in self._threads:
            thread.join(timeout=30)
        if self.errors and exc[0] is None:
            raise self.errors[0]

    def _created(self, group: str, vm: str, script: str) -> None:
        if self.azure.group_tags(group).get("cml-role") != "bake":
            return
        self._threads.append(threading.current_thread())
        try:
            box = VmSandbox(Path(self._dir) / group, docker=False, **self.sandbox)
            result = box.run(script)
        except Exception as error:  # noqa: BLE001 - reported by __exit__, in the test's thread
            self.errors.append(error)
            return
        self.outputs[group] = result.stdout
        self.azure.write_console(group, vm, result.stdout)
        if power_off_reason(box) and not self.hang:
            self.azure.set_power_state(group, vm, "stopped")


@pytest.fixture()
def env(azure_fake: FakeAzure, tmp_path: Path) -> dict[str, str]:
    return {
        **azure_fake.cloud_env(),
        "COMMAND": "bake",
        "CLOUD_REGION": "us-west",
        "CML_RUNNER_POLL_SECONDS": "0.1",
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path),
    }


def assert_nothing_left(azure: FakeAzure) -> None:
    """No resource group at all: the bake's VM group (VM, OS disk, NIC, IP, VNet, NSG) and its image group."""
    assert azure.groups() == [], f"left behind: {[(g, azure.resources(g)) for g in azure.groups()]}"
    assert azure.images() == []


def actions(azure: FakeAzure) -> list[str]:
    """The calls that changed something, in order, as 'METHOD <last two parts of the path, lowercased>'."""
    return [
        f"{r.method} {'/'.join(r.path.lower().rsplit('/', 2)[-2:])}"
        for r in azure.requests
        if r.method in ("PUT", "POST", "DELETE") and "/oauth2/" not in r.path and r.status < 300
    ]


def test_bake_captures_a_generalized_image_of_the_deallocated_vm_and_keeps_only_the_image(
    env: dict[str, str], azure_fake: FakeAzure, tmp_path: Path
) -> None:
    with AzureBakeGuest(azure_fake) as guest:
        proc = run_pipe(env)
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    [(group, name, state, tags)] = azure_fake.images()
    assert group == name and state == "Succeeded"
    image_id = f"/subscriptions/{azure_fake.subscription_id}/resourceGroups/{group}/providers/{IMAGES}/{name}"
    said = (rf"Baked image {re.escape(image_id)} \(cml-baked-[0-9a-f]{{12}}-\d{{10}}, recipe [0-9a-f]{{12}}: "
            rf"base {re.escape(AZURE_BASE_IMAGE)}, runner image \S+, bake script v2, CPU\)")  # fmt: skip
    assert re.search(said, out), out
    assert tags["cml-managed-by"] == "cml-runner-pipe" and tags["cml-repository"] == REPO_TAG
    assert tags["cml-role"] == "baked-image" and name == f"cml-baked-{tags['cml-recipe']}-{tags['cml-created-at']}"
    # The only thing left is the image, alone in its group, tagged like it.
    assert azure_fake.groups() == [group] and azure_fake.resources(group) == [(IMAGES, name)]
    assert azure_fake.group_tags(group) == tags
    # The guest ran the bake role and powered off; the VM was deallocated, then generalized, then captured.
    [(bake_group, console)] = guest.outputs.items()
    assert f"recipe {tags['cml-recipe']}" in console and "powering off for the image" in console
    done = actions(azure_fake)
    steps = (f"POST {bake_group}/deallocate", f"POST {bake_group}/generalize", f"PUT images/{name.lower()}",
             f"DELETE resourcegroups/{bake_group}")  # fmt: skip
    sequence = [done.index(step) for step in steps]
    assert sequence == sorted(sequence), done
    assert image_id in (tmp_path / "cml-runner" / "image.json").read_text()


@pytest.mark.parametrize(
    ("method", "path", "action"),
    [
        ("PUT", r"/virtualMachines/[^/]+$", "Microsoft.Compute/virtualMachines/write"),
        ("POST", r"/deallocate$", "Microsoft.Compute/virtualMachines/deallocate/action"),
        ("POST", r"/generalize$", "Microsoft.Compute/virtualMachines/generalize/action"),
        ("PUT", r"/resourcegroups/cml-baked-[^/]+$", "Microsoft.Resources/subscriptions/resourcegroups/write"),
        ("PUT", r"/images/[^/]+$", "Microsoft.Compute/images/write"),
    ],
    ids=["create-vm", "deallocate", "generalize", "image-group", "create-image"],
)
def test_a_refusal_at_each_step_leaves_nothing(
    env: dict[str, str], azure_fake: FakeAzure, method: str, path: str, action: str
) -> None:
    # A role without the step's permission: Azure's AuthorizationFailed (403, not retried by the SDK).
    azure_fake.fail(method, path, status=403, code="AuthorizationFailed",
                    message=f"The client does not have authorization to perform action '{action}'.")  # fmt: skip
    with AzureBakeGuest(azure_fake):
        proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = failure_line(proc)
    assert "AuthorizationFailed" in line and action in line, line
    if action != "Microsoft.Compute/virtualMachines/write":
        assert "rolled back" in line, line
    assert_nothing_left(azure_fake)


def test_an_image_azure_fails_to_make_is_deleted_with_its_group_and_the_vm(
    env: dict[str, str], azure_fake: FakeAzure
) -> None:
    azure_fake.fail_images = True
    with AzureBakeGuest(azure_fake):
        proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "could not make image" in failure_line(proc) and "rolled back" in failure_line(proc)
    assert_nothing_left(azure_fake)


def test_a_capture_refused_because_the_vm_is_not_generalized_is_azures_rule_and_leaves_nothing(
    env: dict[str, str], azure_fake: FakeAzure
) -> None:
    """The local Azure keeps the rule (ansible/ansible#37158): a generalize that "succeeds" without effect, as a
    wrong API version might, ends in Azure's refusal of the capture, and the rollback still removes everything."""
    azure_fake.fail("POST", r"/generalize$", status=200, code="", message="")  # answered 200, did nothing
    with AzureBakeGuest(azure_fake):
        proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "requires the Virtual Machine" in failure_line(proc) and "Generalized" in failure_line(proc)
    assert_nothing_left(azure_fake)


def test_sigterm_while_the_bake_vm_installs_deletes_its_group(env: dict[str, str], azure_fake: FakeAzure) -> None:
    with AzureBakeGuest(azure_fake, hang=True) as guest:
        proc = start_pipe(env)
        wait_for(lambda: bool(guest.outputs))
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stdout + stderr
    assert "stopped by SIGTERM" in strip_ansi(stdout)
    assert_nothing_left(azure_fake)


def test_sigterm_during_image_creation_deletes_the_half_made_image_its_group_and_the_vm(
    env: dict[str, str], azure_fake: FakeAzure
) -> None:
    azure_fake.hold_images = True
    with AzureBakeGuest(azure_fake):
        proc = start_pipe(env)
        wait_for(lambda: bool(azure_fake.images_made))
        time.sleep(0.3)  # the pipe is polling the image that stays Creating
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stdout + stderr
    assert "stopped by SIGTERM" in strip_ansi(stdout) and "rolled back" in strip_ansi(stdout)
    assert_nothing_left(azure_fake)


def test_a_gpu_bake_captures_the_hpc_image_at_its_own_disk_size(env: dict[str, str], azure_fake: FakeAzure) -> None:
    """The GPU base image's OS disk (64 GB here) is bigger than the default: the bake's VM grows to it (Azure's
    refusal says its size) and the image keeps that size, so a runner from it is sized the same way."""
    with AzureBakeGuest(azure_fake) as guest:
        proc = run_pipe({**env, "CLOUD_GPU": "t4"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    [(group, name, state, _)] = azure_fake.images()
    assert state == "Succeeded" and "GPU" in out and DEFAULT_IMAGES["azure"][1] in out
    disk = azure_fake.resource(group, IMAGES, name)["properties"]["storageProfile"]["osDisk"]
    assert disk["diskSizeGB"] == 64 and disk["osState"] == "Generalized"
    [console] = guest.outputs.values()
    assert "gpu: true" in console


def test_a_bake_whose_install_fails_powers_off_by_its_timer_and_makes_no_image(
    env: dict[str, str], azure_fake: FakeAzure
) -> None:
    with AzureBakeGuest(azure_fake, sandbox={"apt_missing": ("docker.io",)}):
        proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = "\n".join(output_lines(proc))
    assert "| cml-runner: step docker: FAILED (exit 100)" in out  # read from the boot diagnostics serial log
    assert "without 'cml-runner: bake succeeded for recipe " in failure_line(proc)
    assert_nothing_left(azure_fake)
    assert not [a for a in actions(azure_fake) if a.endswith("/generalize") or "images/" in a]
