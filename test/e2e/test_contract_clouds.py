"""The cross-cloud contract: the same scenarios, through the real entry point process, on AWS, GCP, Azure and
Kubernetes.

Each test runs `python -m pipe` against one emulated cloud (moto_server, the local Compute Engine, the
local Azure Resource Manager, the local Kubernetes; see contract_clouds.py), the local Bitbucket, and a
stand-in that boots the instance's real startup script (a VM) or plays the pod's runner container. Zones,
spot markets and boot scripts are the VM clouds' alone: those scenarios run on VM_CLOUDS, and Kubernetes has
their counterparts (an unschedulable pod, its DRY_RUN manifests) in test_runner_kubernetes.py.
Launch, ONLINE, reuse, each fault with nothing left behind, sweep and
dry run must behave the same on every cloud: the flow is shared, only the adapter differs.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import docs_pages
import pytest
import yaml
from contract_clouds import (
    CLOUDS,
    NATIVE_M,
    VM_CLOUDS,
    AzureCloud,
    CallCounter,
    CloudUnderTest,
    GcpCloud,
    KubernetesCloud,
    ours,
    zones_of,
)
from fakes.bitbucket import FakeBitbucket
from fakes.gcp import DEFAULT_IMAGES as GCP_IMAGES
from fakes.gcp import FakeGcp
from fakes.moto import AMI_ROOT_GB, GPU_AMI
from fixtures_pipe import output_lines, pipe_env, run_pipe, strip_ansi
from pod_standin import PodStandIn
from vm_standin import VmStandIn

from pipe.bitbucket.client import BitbucketClient
from pipe.providers.base import (
    TAG_CREATED_AT,
    TAG_EXPIRES_AT,
    TAG_MANAGED_BY,
    TAG_REPOSITORY,
    TAG_RUNNER_SCOPE,
    TAG_RUNNER_UUID,
)
from pipe.providers.catalog import resolve_machine
from pipe.providers.tags import our_tags
from pipe.runner.plan import MARKER_LABEL

# Each cloud's SDK, which a run on another cloud must never import.
SDK_MODULES = {
    "aws": ("boto3", "botocore"),
    "gcp": ("google.cloud", "google.api_core", "googleapiclient"),
    "azure": ("azure",),
    "kubernetes": ("kubernetes",),
}
# The real entry point (what `python -m pipe` calls), then a list of every module the run imported.
IMPORT_PROBE = """
import json, sys
import pipe.pipe as entry
code = entry.main()
print("IMPORTED " + json.dumps(sorted(sys.modules)), file=sys.stderr)
raise SystemExit(code)
"""
# The variables that point each adapter at its cloud's API: DRY_RUN points them at a CallCounter.
ENDPOINT_VARS = {
    "aws": ("AWS_ENDPOINT_URL",),
    "gcp": ("GCP_COMPUTE_ENDPOINT",),
    "azure": ("AZURE_RESOURCE_MANAGER_ENDPOINT", "AZURE_AUTHORITY_HOST"),
}
LONG_AGO = "2020-01-01T00:00:00.000000Z"
ANOTHER_REPO_UUID = "{0a0a0a0a-1111-4222-8333-444444444444}"


def _env(cloud: CloudUnderTest, bb_env: dict[str, str], tmp_path: Any) -> dict[str, str]:
    return {
        **cloud.env,
        **bb_env,
        **({"CLOUD_REGION": "us-west"} if cloud.name in VM_CLOUDS else {}),  # a cluster has no region
        "CLOUD_TYPE": "m",
        "WAIT_TIMEOUT": "60s",
        "CML_RUNNER_POLL_SECONDS": "0.2",
        "AWS_MAX_ATTEMPTS": "1",
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path),
    }


@pytest.fixture()
def env(cloud: CloudUnderTest, bb_env: dict[str, str], tmp_path: Any) -> dict[str, str]:
    return _env(cloud, bb_env, tmp_path)


@pytest.fixture()
def vm_env(vm_cloud: CloudUnderTest, bb_env: dict[str, str], tmp_path: Any) -> dict[str, str]:
    return _env(vm_cloud, bb_env, tmp_path)


@pytest.fixture()
def vm(request: pytest.FixtureRequest, bitbucket: FakeBitbucket) -> Iterator[VmStandIn | PodStandIn]:
    """What plays the instance: the real boot script in a sandbox, or (Kubernetes) the pod's runner container."""
    cloud: CloudUnderTest = request.getfixturevalue("vm_cloud" if "vm_cloud" in request.fixturenames else "cloud")
    token_url = f"{bitbucket.root_url}/_fake/oauth2/token"
    standin: VmStandIn | PodStandIn
    if isinstance(cloud, KubernetesCloud):
        standin = PodStandIn(cloud.fake, token_url).start()
    else:
        standin = VmStandIn(cloud.user_data, token_url).start()
    yield standin
    standin.stop()


def runners(bitbucket: FakeBitbucket) -> list[Any]:
    return list(bitbucket.repo().runners.values())


def failure_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The pipe's one failure line: the last line on stdout (logs go to stderr)."""
    return strip_ansi(proc.stdout).strip().splitlines()[-1]


def assert_nothing_left(cloud: CloudUnderTest, bitbucket: FakeBitbucket) -> None:
    assert ours(cloud) == [], f"an instance of ours is still alive on {cloud.name}"
    assert runners(bitbucket) == [], "a runner is still registered"


def secrets_in(env: dict[str, str]) -> list[str]:
    names = ("BITBUCKET_ACCESS_TOKEN", "AWS_SECRET_ACCESS_KEY", "AZURE_CLIENT_SECRET")
    return [env[n] for n in names if env.get(n)]


# ---------------------------------------------------------------------------------------------
# 1. launch: one instance of ours, booting exactly the registered runner, which comes ONLINE


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_launch_creates_one_tagged_instance_whose_runner_comes_online(
    cloud: CloudUnderTest, env: dict[str, str], bitbucket: FakeBitbucket, vm: VmStandIn | PodStandIn
) -> None:
    proc = run_pipe({**env, "LABELS": "cml.runner,gpu.free"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out

    [live] = ours(cloud)
    assert live.instance_type == NATIVE_M[cloud.name]
    [runner] = runners(bitbucket)
    assert runner.status == "ONLINE"
    assert set(runner.labels) == {"self.hosted", "linux", "cml.runner", "gpu.free", MARKER_LABEL}
    assert live.tags[TAG_MANAGED_BY] == "cml-runner-pipe"
    assert live.tags[TAG_RUNNER_UUID] == runner.uuid.strip("{}")
    # The repository's UUID names the repository (collision-free), and the scope says where the runner lives.
    assert live.tags[TAG_REPOSITORY] == bitbucket.repo().uuid.strip("{}")
    assert live.tags[TAG_RUNNER_SCOPE] == "repository"
    assert int(live.tags[TAG_EXPIRES_AT]) > int(live.tags[TAG_CREATED_AT])

    booted = vm.booted[live.id]
    assert booted.online, booted.output
    assert booted.runner_env["RUNNER_UUID"] == runner.uuid
    assert booted.runner_env["OAUTH_CLIENT_ID"] == runner.oauth_client_id
    assert booted.runner_env["OAUTH_CLIENT_SECRET"] == runner.oauth_client_secret
    assert booted.runner_env["REPOSITORY_UUID"] == bitbucket.repo().uuid
    assert booted.runner_env["ACCOUNT_UUID"] == bitbucket.repo().workspace.uuid

    for expected in (runner.name, "cml.runner", NATIVE_M[cloud.name], "on-demand"):
        assert expected in out
    for secret in (runner.oauth_client_secret, *secrets_in(env)):
        assert secret not in proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------------------
# 1a. each cloud's way-out option, parsed once with every other boolean (pipe/config/clouds.py) and applied as
# given: `on` was accepted by validation, then refused by the Azure adapter's own rule as a cloud error


def way_out(cloud: CloudUnderTest) -> bool:
    """GCP: the instance's NIC has an external IP; Azure: the runner's group holds a public IP."""
    if isinstance(cloud, GcpCloud):
        [raw] = cloud.fake.instances()
        return bool(raw["networkInterfaces"][0].get("accessConfigs"))
    assert isinstance(cloud, AzureCloud)
    [group] = cloud.fake.groups()
    return any(kind == "Microsoft.Network/publicIPAddresses" for kind, _ in cloud.fake.resources(group))


@pytest.mark.parametrize(("vm_cloud", "variable"), [("gcp", "GCP_EXTERNAL_IP"), ("azure", "AZURE_PUBLIC_IP")],
                         indirect=["vm_cloud"])  # fmt: skip
@pytest.mark.parametrize("value", ["on", "off"])
@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_the_public_ip_option_does_what_it_says_for_every_boolean_spelling(
    vm_cloud: CloudUnderTest, vm_env: dict[str, str], bitbucket: FakeBitbucket, vm: VmStandIn, variable: str,
    value: str,
) -> None:  # fmt: skip
    if isinstance(vm_cloud, GcpCloud):
        vm_cloud.fake.add_router("us-west1", "nat-router")  # without an external IP, Cloud NAT is the way out
    proc = run_pipe({**vm_env, variable: value})
    assert proc.returncode == 0, "\n".join(output_lines(proc))
    assert way_out(vm_cloud) is (value == "on")
    [runner] = runners(bitbucket)
    assert runner.status == "ONLINE"


# ---------------------------------------------------------------------------------------------
# 1b. the root disk: at least what the image needs (the GPU images are bigger than the 35 GB default)

def gpu_image_gb(cloud: str) -> int:
    """What the emulated cloud says its default GPU image needs; the real clouds refuse a smaller disk."""
    if cloud == "aws":
        return AMI_ROOT_GB[GPU_AMI]
    if cloud == "gcp":
        return next(i[5] for i in GCP_IMAGES if i[0] == "deeplearning-platform-release")
    from fakes.azure import IMAGE_OS_DISK_GB  # the Azure SDK only for Azure's tests

    return IMAGE_OS_DISK_GB[("microsoft-dsvm", "ubuntu-hpc")]


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_gpu_launch_without_cloud_hdd_size_gets_the_images_size(
    vm_cloud: CloudUnderTest, vm_env: dict[str, str], bitbucket: FakeBitbucket, vm: VmStandIn
) -> None:
    cloud, env = vm_cloud, vm_env
    proc = run_pipe({**env, "CLOUD_GPU": "t4"})
    assert proc.returncode == 0, "\n".join(output_lines(proc))
    [live] = ours(cloud)
    assert gpu_image_gb(cloud.name) > 35 and live.disk_gb == gpu_image_gb(cloud.name)


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_cpu_launch_without_cloud_hdd_size_keeps_35_gb(
    vm_cloud: CloudUnderTest, vm_env: dict[str, str], bitbucket: FakeBitbucket, vm: VmStandIn
) -> None:
    cloud, env = vm_cloud, vm_env
    proc = run_pipe(env)
    assert proc.returncode == 0, "\n".join(output_lines(proc))
    assert [live.disk_gb for live in ours(cloud)] == [35]


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_cloud_hdd_size_below_the_images_size_is_refused_in_one_line_and_leaves_nothing(
    vm_cloud: CloudUnderTest, vm_env: dict[str, str], bitbucket: FakeBitbucket
) -> None:
    cloud, env = vm_cloud, vm_env
    proc = run_pipe({**env, "CLOUD_GPU": "t4", "CLOUD_HDD_SIZE": "40"})
    assert proc.returncode == 1
    line = failure_line(proc)
    assert "CLOUD_HDD_SIZE" in line and f"{gpu_image_gb(cloud.name)} GB" in line, line
    assert "Traceback" not in proc.stdout + proc.stderr
    assert_nothing_left(cloud, bitbucket)
    if cloud.name != "azure":  # AWS and GCP say the image's size before anything is created
        assert bitbucket.request_count("POST /repositories/{workspace}/{repo_slug}/pipelines-config/runners") == 0


# ---------------------------------------------------------------------------------------------
# 2. reuse


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_reuse_and_reuse_idle_create_nothing_when_a_runner_suits_and_reuse_idle_skips_a_busy_one(
    cloud: CloudUnderTest, env: dict[str, str], bitbucket: FakeBitbucket, vm: VmStandIn | PodStandIn
) -> None:
    assert run_pipe(env).returncode == 0
    [runner] = runners(bitbucket)

    proc = run_pipe({**env, "REUSE_IDLE": "true"})  # online and idle: reused
    assert proc.returncode == 0, proc.stdout
    assert "Reusing runner" in "\n".join(output_lines(proc))
    assert len(ours(cloud)) == 1 and len(runners(bitbucket)) == 1

    bitbucket.set_runner_busy(runner.uuid)
    proc = run_pipe({**env, "REUSE": "true"})  # REUSE takes a busy runner too
    assert proc.returncode == 0, proc.stdout
    assert "Reusing runner" in "\n".join(output_lines(proc))
    assert len(ours(cloud)) == 1 and len(runners(bitbucket)) == 1

    proc = run_pipe({**env, "REUSE_IDLE": "true"})  # the only one is busy: a new one
    assert proc.returncode == 0, proc.stdout
    assert len(ours(cloud)) == 2 and len(runners(bitbucket)) == 2
    assert all(r.status == "ONLINE" for r in runners(bitbucket))


# ---------------------------------------------------------------------------------------------
# 3. faults: each ends with nothing of ours left in the cloud or in Bitbucket


def test_no_capacity_in_any_zone_is_a_clear_error_and_leaves_nothing(
    vm_cloud: CloudUnderTest, vm_env: dict[str, str], bitbucket: FakeBitbucket
) -> None:
    cloud, env = vm_cloud, vm_env
    cloud.no_capacity()
    proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout
    last = failure_line(proc)
    assert f"no capacity for {NATIVE_M[cloud.name]} in any zone of {cloud.region}" in last
    for zone in zones_of(cloud.name):  # the catalog's zone order (GCP); AWS and Azure discover or let the cloud pick
        assert zone in last
    assert "(, " not in last
    assert "Traceback" not in proc.stdout + proc.stderr
    assert_nothing_left(cloud, bitbucket)


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_spot_capacity_shortage_falls_back_to_on_demand(
    vm_cloud: CloudUnderTest, vm_env: dict[str, str], bitbucket: FakeBitbucket, vm: VmStandIn | PodStandIn
) -> None:
    cloud, env = vm_cloud, vm_env
    cloud.no_capacity(spot_only=True)
    proc = run_pipe({**env, "CLOUD_SPOT": "true"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert "falling back to on-demand" in out
    [live] = ours(cloud)
    assert not live.spot
    [runner] = runners(bitbucket)
    assert runner.status == "ONLINE"


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_runner_never_online_times_out_and_rolls_back(
    cloud: CloudUnderTest, env: dict[str, str], bitbucket: FakeBitbucket
) -> None:
    proc = run_pipe({**env, "WAIT_TIMEOUT": "2s"})
    assert proc.returncode == 1, proc.stdout
    assert "did not come ONLINE within 2s" in failure_line(proc)
    assert "rolled back" in failure_line(proc)
    assert_nothing_left(cloud, bitbucket)


def test_bitbucket_5xx_storm_fails_cleanly_and_leaves_nothing(
    cloud: CloudUnderTest, env: dict[str, str], bitbucket: FakeBitbucket
) -> None:
    # Retry-After: 0 keeps the storm short: the client retries at once until its attempts run out.
    bitbucket.add_fault(
        "status", status=503, retry_after="0", method="GET", path=r"/pipelines-config/runners/", times=None
    )
    proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout
    assert "503" in failure_line(proc)
    bitbucket.clear_faults()
    assert_nothing_left(cloud, bitbucket)


def test_sigterm_mid_wait_rolls_back_before_exiting_1(
    cloud: CloudUnderTest, env: dict[str, str], bitbucket: FakeBitbucket
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pipe"],
        env=pipe_env({**env, "WAIT_TIMEOUT": "120s"}),
        cwd=pipe_env()["BITBUCKET_CLONE_DIR"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    waiting = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "waiting for the runner to connect" in line:
                waiting.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert waiting.wait(timeout=60), "the pipe never started waiting:\n" + "".join(lines)
        assert len(ours(cloud)) == 1
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    out = strip_ansi("".join(lines))
    assert process.returncode == 1, out
    assert "SIGTERM" in out
    assert_nothing_left(cloud, bitbucket)


# ---------------------------------------------------------------------------------------------
# 4. sweep: expired and orphaned instances and stale runners of ours go; nothing else does


def _register(bb_client: BitbucketClient, name: str, labels: list[str]) -> str:
    return bb_client.create_runner(name, labels).runner.uuid


def test_sweep_removes_expired_and_orphaned_instances_and_stale_runners_and_nothing_else(
    cloud: CloudUnderTest, env: dict[str, str], bitbucket: FakeBitbucket, bb_client: BitbucketClient
) -> None:
    ours_labels = ["self.hosted", "linux", "cml.runner", MARKER_LABEL]
    online = _register(bb_client, "cml-online0001", ours_labels)  # its instance is live
    online_elsewhere = _register(bb_client, "cml-online0002", ours_labels)  # ONLINE without an instance: left alone
    stale = _register(bb_client, "cml-stale00001", ours_labels)  # OFFLINE for years, no instance: deleted
    not_ours = _register(bb_client, "team-runner", ["self.hosted", "linux"])  # as stale, but no marker label
    with bitbucket.lock:
        for uuid in (online, online_elsewhere):
            state = bitbucket.runner(uuid)
            state.connected = state.ever_connected = True
        for uuid in (stale, not_ours):  # OFFLINE for years
            state = bitbucket.runner(uuid)
            state.ever_connected = True
            state.created_on = state.updated_on = LONG_AGO

    now = int(time.time())

    def tags(runner_uuid: str, *, expires_at: int, repo: str = bitbucket.repo().uuid) -> dict[str, str]:
        return our_tags(runner_uuid=runner_uuid, repository_uuid=repo, runner_scope="repository", pipeline="7",
                        created_at=now - 7200, expires_at=expires_at)  # fmt: skip

    gone_uuid = "{0badc0de-0000-4000-8000-000000000001}"
    expired = cloud.seed("cml-expired001", tags(online, expires_at=now - 60))  # its runner exists: expiry alone
    orphan = cloud.seed("cml-orphan0001", tags(gone_uuid, expires_at=now + 3600))
    live = cloud.seed("cml-online0001", tags(online, expires_at=now + 3600))
    other_repo = cloud.seed("cml-otherrepo1", tags(gone_uuid, expires_at=now + 3600, repo=ANOTHER_REPO_UUID))
    foreign = cloud.seed("team-vm-00001", {"team": "someone-else"})
    before = {i.id for i in cloud.instances()}
    assert {expired, orphan, live, other_repo, foreign} <= before

    proc = run_pipe({**env, "COMMAND": "sweep"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out

    after = {i.id for i in cloud.instances()}
    assert after == before - {expired, orphan}, out
    assert {r.uuid for r in runners(bitbucket)} == {online, online_elsewhere, not_ours}, out
    assert bitbucket.runner(online).status == "ONLINE"
    assert "2 instance(s) terminated, 1 runner(s) deleted" in out


# ---------------------------------------------------------------------------------------------
# 5. dry run: the plan, no call to Bitbucket, and one read-only call that checks the cloud credentials
# (issue 30 item 6: this test used to assert that DRY_RUN made no cloud call at all; the contract now is that it
# makes one read, says whether the credentials work, and creates nothing)


DRY_RUN_NETWORK = {
    "aws": "a public IP only if its route out is an internet gateway",
    "gcp": "external IP yes (ephemeral)",
    "azure": "public IP yes",
}
# The quota reads of a DRY_RUN whose credentials work (pipe/runner/quota.py), on top of the check's.
DRY_RUN_QUOTA_READS = {"aws": 1, "gcp": 4, "azure": 6}  # measured; Azure: with a second sign-in
# The read each cloud's check makes (pipe/runner/dry_run.py check_credentials).
DRY_RUN_CHECK = {
    "aws": "sts GetCallerIdentity answered arn:aws:",
    "gcp": "a read-only listing of this repository's instances of ours answered (0 found)",
    "azure": "a read-only listing of this repository's instances of ours answered (0 found)",
}


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_dry_run_prints_the_plan_checks_the_credentials_and_creates_nothing(
    vm_cloud: CloudUnderTest, vm_env: dict[str, str], bitbucket: FakeBitbucket
) -> None:
    cloud, env = vm_cloud, vm_env
    variables = {"DRY_RUN": "true", "CLOUD_SPOT": "true", "CLOUD_STARTUP_SCRIPT": "echo proxy-setup"}
    calls_before = cloud.calls()
    proc = run_pipe({**env, **variables, "DEBUG": "true"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    expected = [NATIVE_M[cloud.name], cloud.region, "spot", "cml-managed-by", "(secrets masked)", "echo proxy-setup"]
    expected += list(zones_of(cloud.name))
    for text in expected:
        assert text in out
    hourly = resolve_machine(cloud.name, "m", "").hourly_usd
    assert hourly is not None and f"~${hourly:.3f}/h" in out  # the estimated price, from the catalog
    # How the instance reaches the internet and what can reach it, on every cloud.
    [network] = [line for line in out.splitlines() if "Plan: network: " in line]
    assert DRY_RUN_NETWORK[cloud.name] in network and "inbound: none" in network, network
    assert "disk: 35 GB, or the image's own size if larger" in out
    [check] = [line for line in out.splitlines() if "Credentials: " in line]
    assert check.startswith(f"INFO: Credentials: the {cloud.name} credentials the launch would use work: "), check
    assert DRY_RUN_CHECK[cloud.name] in check, check
    assert bitbucket.request_count() == 0
    calls_after = cloud.calls()
    # The check's read (Azure: and its sign-in's), then the quota reads (issue 29; pipe/runner/quota.py): AWS
    # DescribeInstanceTypes (Service Quotas is answered apart), GCP the machine type, region and project, Azure
    # the Resource SKUs and usages lists. Nothing more.
    if calls_before is not None and calls_after is not None:
        assert 1 <= calls_after - calls_before <= 3 + DRY_RUN_QUOTA_READS[cloud.name], (calls_before, calls_after)
    assert [line for line in out.splitlines() if "INFO: Quota: " in line], "the quotas were read"
    assert cloud.instances() == []

    # The same credentials against an endpoint that answers nothing: DRY_RUN says so, and still exits 0.
    counter = CallCounter().start()
    try:
        sink = {name: counter.url for name in ENDPOINT_VARS[cloud.name]}
        proc = run_pipe({**env, **sink, **variables})
    finally:
        counter.stop()
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    [check] = [line for line in out.splitlines() if "Credentials: " in line]
    assert check.startswith("WARNING: Credentials: the ") and "DRY_RUN goes on" in check, check
    assert "(secrets masked)" not in out and "echo proxy-setup" not in out  # the script itself only with DEBUG
    assert cloud.instances() == []


# ---------------------------------------------------------------------------------------------
# The GCP example of docs/clouds/gcp.md, as written, on a fresh project (default network, no Cloud NAT)


def readme_example(title: str) -> dict[str, str]:
    """The pipe variables of the docs/clouds/gcp.md example whose heading starts with title."""
    block = docs_pages.example_after("docs/clouds/gcp.md", title)
    steps = [next(iter(s.values())) for s in yaml.safe_load(block)["pipelines"]["custom"]["train-on-spot"]]
    pipe = steps[0]["script"][0]
    return {k: str(v) for k, v in pipe["variables"].items() if not str(v).startswith("$")}


def test_the_readme_gcp_example_works_as_written_on_a_fresh_project(
    fake_gcp: FakeGcp, gcp_env: dict[str, str], bb_env: dict[str, str], bitbucket: FakeBitbucket, tmp_path: Any
) -> None:
    variables = readme_example("**A spot instance that serves one step, with a bigger disk, on GCP**")
    assert variables["CLOUD"] == "gcp" and "GCP_EXTERNAL_IP" not in variables
    cloud = GcpCloud(fake_gcp, gcp_env)
    standin = VmStandIn(cloud.user_data, f"{bitbucket.root_url}/_fake/oauth2/token").start()
    try:
        proc = run_pipe({**gcp_env, **bb_env, **variables, "WAIT_TIMEOUT": "30s", "CML_RUNNER_POLL_SECONDS": "0.2",
                         "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path)})  # fmt: skip
    finally:
        standin.stop()
    assert proc.returncode == 0, "\n".join(output_lines(proc))
    [live] = ours(cloud)
    assert standin.booted[live.id].online
    assert [r.status for r in runners(bitbucket)] == ["ONLINE"]


# ---------------------------------------------------------------------------------------------
# Lazy imports: a run on one cloud never imports another cloud's SDK


def test_a_run_imports_only_its_own_clouds_sdk(
    cloud: CloudUnderTest, env: dict[str, str], bitbucket: FakeBitbucket
) -> None:
    proc = run_pipe({**env, "COMMAND": "sweep"}, args=("-c", IMPORT_PROBE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    probe = next(line for line in proc.stderr.splitlines() if line.startswith("IMPORTED "))
    modules: list[str] = json.loads(probe.removeprefix("IMPORTED "))

    def loaded(prefixes: tuple[str, ...]) -> list[str]:
        return [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]

    assert loaded(SDK_MODULES[cloud.name]), f"the {cloud.name} run did not use its SDK: the probe is broken"
    for other, prefixes in SDK_MODULES.items():
        if other != cloud.name:
            assert loaded(prefixes) == [], f"a {cloud.name} run imported the {other} SDK"


def test_the_contract_covers_every_cloud_the_pipe_offers() -> None:
    from pipe.config.runner import CLOUDS as OFFERED
    from pipe.providers import _MODULES

    assert set(_MODULES) == set(CLOUDS) == set(NATIVE_M) == set(SDK_MODULES) == set(OFFERED)
