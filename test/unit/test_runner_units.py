"""Runner mode's decisions on plain data: catalog, reuse, sweep, fallback order, waiting, rollback."""

from __future__ import annotations

import itertools
import logging
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from fakes.clock import FakeClock

from pipe.bitbucket.models import Runner
from pipe.config.clouds import AwsOptions, AzureOptions, GcpOptions
from pipe.config.parsers import label_problem
from pipe.config.runner import PIPE_OWN_LABELS, RunnerSettings
from pipe.config.variables import ConfigError
from pipe.progress import PROGRESS_EVERY_S, Progress
from pipe.providers.base import CapacityError, Instance, InstanceSpec, ProviderError
from pipe.providers.catalog import CatalogError, check_default_gpu_image, resolve_location, resolve_machine
from pipe.runner.decide import NameInUse, decide
from pipe.runner.launch import attempts, launch_with_fallback
from pipe.runner.leftovers import STALE_RUNNER_S, Listing, stale_runners, triage
from pipe.runner.plan import (
    LEGACY_MARKER_LABEL,
    MARKER_LABEL,
    PIPE_LABELS,
    build_plan,
    is_our_runner,
    runner_labels,
)
from pipe.runner.rollback import Interrupted, Rollback, signals_raise
from pipe.runner.wait import Clock as WaitClock
from pipe.runner.wait import RunnerVanished, WaitTimeout, wait_online

LABELS = ("self.hosted", "linux", "cml.runner")
NOW = 2_000_000_000


def runner(
    uuid: str, status: str = "ONLINE", *, busy: bool = False, labels: tuple[str, ...] = LABELS, **kw: str
) -> Runner:
    return Runner(
        uuid=uuid,
        name=kw.get("name", f"cml-{uuid}"),
        labels=labels,
        status=status,
        busy=busy,
        created_on=kw.get("created_on", ""),
        updated_on=kw.get("updated_on", ""),
    )


# --- catalog


@pytest.mark.parametrize(
    ("cloud", "size", "gpu", "expected"),
    [
        ("aws", "m", "", ("m5.2xlarge", "", 0)),
        ("aws", "m", "t4", ("g4dn.xlarge", "", 0)),
        ("aws", "xl", "h100", ("p5.48xlarge", "", 0)),
        ("gcp", "m", "t4", ("n1-standard-8", "nvidia-tesla-t4", 1)),
        ("gcp", "s", "l4", ("g2-standard-4", "", 0)),
        ("azure", "m", "", ("Standard_F8s_v2", "", 0)),
        ("azure", "l", "a100", ("Standard_NC48ads_A100_v4", "", 0)),
        ("aws", "g5.xlarge", "", ("g5.xlarge", "", 0)),
        ("gcp", "n1-standard-16", "t4*2", ("n1-standard-16", "nvidia-tesla-t4", 2)),
        ("gcp", "n1-standard-16", "nvidia-tesla-v100", ("n1-standard-16", "nvidia-tesla-v100", 1)),
    ],
)
def test_catalog_resolves_generic_and_native(cloud: str, size: str, gpu: str, expected: tuple[str, str, int]) -> None:
    machine = resolve_machine(cloud, size, gpu)
    assert (machine.instance_type, machine.accelerator, machine.accelerator_count) == expected


def test_catalog_prices_known_types_and_marks_gpus() -> None:
    assert resolve_machine("aws", "m", "").hourly_usd == pytest.approx(0.384)
    assert resolve_machine("aws", "m", "t4").has_gpu
    assert not resolve_machine("aws", "m", "").has_gpu
    assert resolve_machine("aws", "p3.2xlarge", "").has_gpu
    assert resolve_machine("aws", "c7i.large", "").hourly_usd is None


@pytest.mark.parametrize(
    ("cloud", "size", "gpu", "variable", "hint"),
    [
        ("aws", "s", "a100", "CLOUD_TYPE", "l, xl"),
        ("azure", "m", "a10g", "CLOUD_GPU", "a100, h100, t4"),
        ("gcp", "m", "k80", "CLOUD_GPU", "retired"),
        ("aws", "m", "v99", "CLOUD_GPU", "a100"),
        ("aws", "huge", "", "CLOUD_TYPE", "s, m, l, xl"),
        ("aws", "m5.2xlarge", "t4", "CLOUD_GPU", "native CLOUD_TYPE"),
        ("gcp", "n1-standard-8", "t4*x", "CLOUD_GPU", "whole number"),
    ],
)
def test_catalog_refuses_impossible_requests_listing_what_is_valid(
    cloud: str, size: str, gpu: str, variable: str, hint: str
) -> None:
    with pytest.raises(CatalogError) as error:
        resolve_machine(cloud, size, gpu)
    assert str(error.value).startswith(f"{variable}: ")
    assert hint in str(error.value)


@pytest.mark.parametrize(("size", "gpu"), [("m", "v100"), ("xl", "v100"), ("p3.2xlarge", ""), ("g3s.xlarge", "")])
def test_aws_gpus_older_than_turing_are_refused_with_the_default_image_only(size: str, gpu: str) -> None:
    variable = "CLOUD_GPU" if gpu else "CLOUD_TYPE"
    machine = resolve_machine("aws", size, gpu)
    with pytest.raises(CatalogError) as error:
        check_default_gpu_image("aws", machine, "", variable)
    assert str(error.value).startswith(f"{variable}: ")
    assert "choose CLOUD_GPU a100, a10g, h100, l4, t4" in str(error.value) and "CLOUD_IMAGE" in str(error.value)
    check_default_gpu_image("aws", machine, "ami-0123456789abcdef0", variable)  # the user's own image: allowed
    check_default_gpu_image("aws", resolve_machine("aws", "m", "t4"), "", "CLOUD_GPU")
    check_default_gpu_image("gcp", resolve_machine("gcp", "m", "v100"), "", "CLOUD_GPU")  # the rule is AWS-only


def test_root_disk_is_the_larger_of_the_default_and_the_image_and_an_explicit_size_is_never_grown() -> None:
    default = build_plan(RunnerSettings(cloud="gcp", options=GcpOptions(), gpu="t4"), "cml-x", 0)
    assert (default.disk_gb, default.disk_explicit) == (35, False)
    assert [default.root_disk_gb(size) for size in (None, 10, 35, 50)] == [35, 35, 35, 50]
    assert any("disk: 35 GB, or the image's own size if larger" in line for line in default.describe())
    explicit = build_plan(RunnerSettings(cloud="gcp", options=GcpOptions(), gpu="t4", hdd_size_gb=60), "cml-x", 0)
    assert [explicit.root_disk_gb(size) for size in (None, 50, 60)] == [60, 60, 60]
    assert "disk: 60 GB" in explicit.describe()
    with pytest.raises(ConfigError, match=r"^CLOUD_HDD_SIZE: '60' is not valid; the image .*common-cu128.* needs at "
                       r"least 100 GB; use at least 100, or leave CLOUD_HDD_SIZE unset$"):  # fmt: skip
        explicit.root_disk_gb(100)


@pytest.mark.parametrize(
    ("options", "line"),
    [
        (AwsOptions(), "the default subnet of the zone; a public IP only if its route out is an "
         "internet gateway, inbound: none (security group cml-runner-pipe has no inbound rule)"),
        (AwsOptions(subnet="subnet-0abc1234", security_group="sg-0abc1234"),
         "public IP only if subnet subnet-0abc1234's route out is an internet gateway (else its NAT), inbound: what "
         "security group sg-0abc1234 allows"),
        (GcpOptions(), "external IP yes (ephemeral), network default, inbound: none (firewall rule "
         "cml-runner-deny-ingress-default denies all ingress to tag cml-runner-pipe)"),
        (GcpOptions(external_ip=False, network="ml", subnetwork="runners"),
         "no external IP, egress via Cloud NAT on runners of network ml (checked at launch), inbound: none "
         "(firewall rule cml-runner-deny-ingress-ml denies all ingress to tag cml-runner-pipe)"),
        (AzureOptions(), "public IP yes (Standard, static), inbound: none (network security group "
         "without inbound rules)"),
        (AzureOptions(public_ip=False), "no public IP, egress via Azure's default outbound "
         "access where the region still offers it, inbound: none"),
    ],
)  # fmt: skip
def test_the_plan_says_how_the_instance_reaches_the_internet_and_what_reaches_it(
    options: AwsOptions | GcpOptions | AzureOptions, line: str
) -> None:
    cloud = {AwsOptions: "aws", GcpOptions: "gcp", AzureOptions: "azure"}[type(options)]
    assert f"network: {line}" in build_plan(RunnerSettings(cloud, options), "cml-x", 0).describe()


def test_regions_generic_native_and_zones() -> None:
    assert resolve_location("aws", "us-west").region == "us-west-1"
    assert resolve_location("aws", "us-east-1a") == resolve_location("aws", "us-east-1a")
    assert resolve_location("aws", "us-east-1a").zones == ("us-east-1a",)
    assert resolve_location("gcp", "eu-west").zones[0] == "europe-west1-d"
    assert resolve_location("gcp", "europe-west4-a").region == "europe-west4"
    assert resolve_location("azure", "eu-north").region == "northeurope"
    with pytest.raises(CatalogError, match="CLOUD_REGION"):
        resolve_location("aws", "mars-1")


# --- reuse


def test_reuse_takes_any_online_runner_with_all_labels_busy_or_not() -> None:
    runners = [runner("a", "OFFLINE"), runner("b", busy=True), runner("c", labels=("self.hosted", "linux"))]
    decision = decide(runners, LABELS, name="cml-new", reuse=True, reuse_idle=False)
    assert (decision.action, decision.runner and decision.runner.uuid) == ("reuse", "b")


def test_reuse_idle_skips_busy_runners_and_provisions_when_all_are_busy() -> None:
    busy, idle = runner("b", busy=True), runner("i")
    assert decide([busy, idle], LABELS, name="x", reuse=False, reuse_idle=True).runner == idle
    assert decide([busy], LABELS, name="x", reuse=False, reuse_idle=True).action == "provision"


def test_without_reuse_always_provisions_and_a_taken_name_is_an_error() -> None:
    assert decide([runner("a")], LABELS, name="x", reuse=False, reuse_idle=False).action == "provision"
    with pytest.raises(NameInUse, match="NAME"):
        decide([runner("a", name="taken")], LABELS, name="taken", reuse=False, reuse_idle=False)
    assert decide([runner("a", name="taken")], LABELS, name="taken", reuse=True, reuse_idle=False).action == "reuse"


# --- sweep


REPO_UUID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def instance(
    runner_uuid: str, *, expires: int = NOW + 3600, state: str = "running", scope: str = "repository"
) -> Instance:
    return Instance(
        cloud="aws",
        id=f"i-{runner_uuid}",
        name="n",
        region="r",
        zone="z",
        instance_type="t",
        spot=False,
        state=state,
        tags={
            "cml-managed-by": "cml-runner-pipe",
            "cml-runner-uuid": runner_uuid,
            "cml-repository": REPO_UUID,
            "cml-runner-scope": scope,
            "cml-expires-at": str(expires),
        },
    )


OURS = (*LABELS, MARKER_LABEL)
OLD = "2020-01-01T00:00:00+00:00"


def test_triage_terminates_what_is_certain_and_looks_up_only_what_the_listing_cannot_vouch_for() -> None:
    runners = (runner("{live}", labels=OURS), runner("{expired}", labels=OURS), runner("{stopped}", labels=OURS))
    instances = [
        instance("live"),
        instance("expired", expires=NOW - 1),
        instance("gone"),
        instance("stopped", state="stopped"),
        instance("workspace-one", scope="workspace"),
    ]
    sorted_out = triage(instances, Listing("repository", runners, complete=True), NOW)
    assert sorted(i.id for i, _ in sorted_out.terminate) == ["i-expired", "i-stopped"]
    # Absent from the listing is not gone: "gone" is looked up; a workspace runner is looked up in its scope.
    assert [(i.id, scope) for i, scope in sorted_out.look_up] == [
        ("i-gone", "repository"),
        ("i-workspace-one", "workspace"),
    ]


def test_triage_sets_aside_instances_with_the_old_lossy_repository_tag() -> None:
    legacy = instance("old")
    legacy.tags["cml-repository"] = "acme_ml_seeds"
    del legacy.tags["cml-runner-scope"]
    expired_legacy = instance("old-expired", expires=NOW - 1)
    expired_legacy.tags["cml-repository"] = "acme_ml_seeds"
    sorted_out = triage([legacy, expired_legacy], None, NOW)
    assert sorted_out.terminate == [] and sorted_out.look_up == []  # expiry alone does not make it ours
    assert [i.id for i in sorted_out.legacy] == ["i-old", "i-old-expired"]


def test_the_pipes_own_labels_obey_bitbucket_label_rule_and_fit_the_room_config_keeps() -> None:
    assert PIPE_LABELS == (MARKER_LABEL,) and len(PIPE_LABELS) == PIPE_OWN_LABELS
    assert [label_problem(label) for label in PIPE_LABELS] == [""]
    assert label_problem(LEGACY_MARKER_LABEL)  # why it had to change


def test_both_markers_make_a_runner_ours_and_nothing_else_does() -> None:
    assert is_our_runner([*LABELS, MARKER_LABEL]) and is_our_runner([*LABELS, LEGACY_MARKER_LABEL])
    assert not is_our_runner(LABELS) and not is_our_runner(["cml.runner.pipe2", "cml.runner"])


def test_labels_may_not_be_the_pipes_marker() -> None:
    with pytest.raises(ConfigError, match=r"^LABELS: .*the pipe's own marker label"):
        runner_labels(("self.hosted", "linux", MARKER_LABEL))
    assert runner_labels(("self.hosted", "linux", "cml.gpu")) == ("self.hosted", "linux", "cml.gpu", MARKER_LABEL)


def test_sweep_still_deletes_stale_runners_registered_with_the_old_marker() -> None:
    legacy = runner("{legacy}", "OFFLINE", labels=(*LABELS, LEGACY_MARKER_LABEL), updated_on=OLD)
    current = runner("{current}", "OFFLINE", labels=OURS, updated_on=OLD)
    stale = stale_runners([legacy, current], set(), NOW)
    assert sorted(r.uuid for r, _ in stale) == ["{current}", "{legacy}"]


def test_sweep_deletes_only_our_stale_down_runners_without_instances() -> None:
    recent = datetime.fromtimestamp(NOW - STALE_RUNNER_S + 60, tz=UTC).isoformat()
    runners = [
        runner("{old-offline}", "OFFLINE", labels=OURS, updated_on=OLD),
        runner("{recent}", "OFFLINE", labels=OURS, updated_on=recent),
        runner("{never-connected}", "UNREGISTERED", labels=OURS, created_on=recent),
        runner("{foreign}", "OFFLINE", updated_on=OLD),
        runner("{online}", "ONLINE", labels=OURS, updated_on=OLD),
        runner("{with-instance}", "OFFLINE", labels=OURS, updated_on=OLD),
        runner("{busy}", "OFFLINE", labels=OURS, busy=True, updated_on=OLD),
    ]
    stale = stale_runners(runners, {"with-instance"}, NOW)
    assert [r.uuid for r, _ in stale] == ["{old-offline}"]


def test_a_runner_that_never_connected_is_stale_only_after_the_longest_launch_wait() -> None:
    hour_ago = datetime.fromtimestamp(NOW - 3600, tz=UTC).isoformat()
    day_ago = datetime.fromtimestamp(NOW - 86400, tz=UTC).isoformat()
    runners = [
        runner("{booting}", "UNREGISTERED", labels=OURS, created_on=hour_ago),
        runner("{abandoned}", "UNREGISTERED", labels=OURS, created_on=day_ago),
    ]
    assert [r.uuid for r, _ in stale_runners(runners, set(), NOW)] == ["{abandoned}"]


# --- launch fallback


@dataclass
class FakeProvider:
    short: set[tuple[str, bool]]
    region: str = "us-west-1"
    cloud: str = "aws"
    calls: list[tuple[str, bool]] = field(default_factory=list)

    def launch(self, spec: InstanceSpec, zone: str, spot: bool) -> Instance:
        self.calls.append((zone, spot))
        if (zone, spot) in self.short:
            raise CapacityError(f"{zone} {spot}")
        return instance("x")


SPEC = InstanceSpec(name="n", region="r", instance_type="t", image="i", disk_gb=1, user_data="", tags={})


def test_spot_is_tried_in_every_zone_before_on_demand() -> None:
    assert attempts(["a", "b"], spot=True) == [("a", True), ("b", True), ("a", False), ("b", False)]
    provider = FakeProvider(short={("a", True), ("b", True)})
    launch_with_fallback(provider, SPEC, ["a", "b"], spot=True)  # type: ignore[arg-type]
    assert provider.calls == [("a", True), ("b", True), ("a", False)]


def test_without_fallback_spot_is_tried_in_every_zone_and_on_demand_never() -> None:
    assert attempts(["a", "b"], spot=True, fallback=False) == [("a", True), ("b", True)]
    provider = FakeProvider(short={("a", True), ("b", True)})
    with pytest.raises(ProviderError, match=r"no spot capacity at or below CLOUD_SPOT_PRICE \$0.2/h for t"):
        launch_with_fallback(provider, SPEC, ["a", "b"], spot=True, fallback=False, spot_price=0.2)  # type: ignore[arg-type]
    assert provider.calls == [("a", True), ("b", True)]


def test_no_capacity_anywhere_is_one_clear_error() -> None:
    provider = FakeProvider(short={("a", False), ("b", False)})
    with pytest.raises(ProviderError, match=r"no capacity for t in any zone of us-west-1 \(a, b"):
        launch_with_fallback(provider, SPEC, ["a", "b"], spot=False)  # type: ignore[arg-type]


# --- waiting


def test_wait_returns_when_online_and_reports_progress_at_a_steady_cadence(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    statuses = iter(["UNREGISTERED"] * 20 + ["ONLINE"])
    got = wait_online(
        lambda uuid: runner(uuid, next(statuses)),
        runner("r", "UNREGISTERED"),
        timeout_s=600,
        what="booting",
        clock=WaitClock(clock.now, clock.sleep),
        poll_every_s=5,
    )
    assert got.status == "ONLINE"
    progress = [r for r in caplog.records if "elapsed" in r.getMessage()]
    assert len(progress) == int(clock.t // PROGRESS_EVERY_S)  # one line per 15 s, not one per poll


def test_wait_times_out_and_notices_a_deleted_runner() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimeout, match="WAIT_TIMEOUT"):
        wait_online(
            lambda uuid: runner(uuid, "OFFLINE"),
            runner("r"),
            timeout_s=30,
            what="x",
            clock=WaitClock(clock.now, clock.sleep),
            poll_every_s=5,
        )
    assert clock.t == 30
    with pytest.raises(RunnerVanished):
        wait_online(lambda uuid: None, runner("r"), timeout_s=30, what="x", clock=WaitClock(clock.now, clock.sleep))


# --- rollback


def test_rollback_runs_every_step_in_reverse_even_after_a_failure() -> None:
    done: list[str] = []
    rollback = Rollback()
    rollback.add("first", lambda: done.append("first"))
    rollback.add("broken", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    rollback.add("last", lambda: done.append("last"))
    assert rollback.run() == ["broken"]
    assert done == ["last", "first"]


def test_sigterm_raises_interrupted_inside_the_guarded_block() -> None:
    with pytest.raises(Interrupted, match="SIGTERM"), signals_raise():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            pass


@pytest.mark.parametrize("online_at", [0.0, 0.01, 3.0, 47.3, 99.9, 130.0])
def test_online_is_noticed_within_five_seconds_during_a_typical_boot(online_at: float) -> None:
    clock = FakeClock()
    got = wait_online(
        lambda uuid: runner(uuid, "ONLINE" if clock.t >= online_at else "UNREGISTERED"),
        runner("r", "UNREGISTERED"),
        timeout_s=600,
        what="booting",
        clock=WaitClock(clock.now, clock.sleep),
    )
    assert got.status == "ONLINE"
    # 4.5 s at most, so the request and the pipe's exit still fit in the 5 s goal.
    assert clock.t - online_at <= 4.5 + 1e-9


@pytest.mark.parametrize("wait_s", [1, 10, 60, 135, 300, 900, 3600])
def test_polls_stay_within_the_api_budget_of_one_per_five_seconds_plus_three(wait_s: int) -> None:
    """A launch makes 3 calls before waiting; its budget is 6 plus 1 per 5 s waited."""
    clock = FakeClock()
    polls: list[float] = []

    def get(uuid: str) -> Runner:
        polls.append(clock.t)
        return runner(uuid, "UNREGISTERED")

    with pytest.raises(WaitTimeout):
        wait_online(get, runner("r"), timeout_s=wait_s, what="x", clock=WaitClock(clock.now, clock.sleep))
    assert len(polls) <= 3 + wait_s / 5
    assert polls[-1] == wait_s  # one last look at the deadline before giving up
    before_deadline = polls[:-1]
    assert all(b - a >= 4.5 - 1e-9 for a, b in itertools.pairwise(before_deadline))


def test_progress_says_what_and_how_long_once_per_interval_whatever_the_poll_rate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    progress = Progress("Azure to create VM cml-x", now=clock.now)
    for _ in range(600):  # a poll every 0.1 s for 60 s
        clock.sleep(0.1)
        progress.tick("status InProgress")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4
    assert lines[0] == "Waiting for Azure to create VM cml-x: 15s elapsed, status InProgress."
    assert lines[-1].startswith("Waiting for Azure to create VM cml-x: 1m00s elapsed")


# --- reading the listing only as far as the decision needs


class Pages:
    """runner_pages() stand-in: counts the pages asked for."""

    def __init__(self, pages: list[list[Runner]]) -> None:
        self.pages = pages
        self.asked = 0

    def __iter__(self) -> Iterator[tuple[list[Runner], bool]]:
        for index, page in enumerate(self.pages):
            self.asked += 1
            yield page, index < len(self.pages) - 1


def test_decide_from_pages_reads_one_page_unless_reuse_or_a_chosen_name_needs_more() -> None:
    from pipe.runner.decide import decide_from_pages

    pages = Pages([[runner("{a}", labels=("team",))], [runner("{b}", labels=LABELS)], [runner("{c}")]])
    decision, listing = decide_from_pages(iter(pages), LABELS, scope="repository", name="cml-x",
                                          check_name=False, reuse=False, reuse_idle=False)  # fmt: skip
    assert (decision.action, pages.asked, listing.complete) == ("provision", 1, False)

    pages.asked = 0
    decision, listing = decide_from_pages(iter(pages), LABELS, scope="repository", name="cml-x",
                                          check_name=False, reuse=False, reuse_idle=True)  # fmt: skip
    assert (decision.action, decision.runner and decision.runner.uuid, pages.asked) == ("reuse", "{b}", 2)
    assert not listing.complete and [r.uuid for r in listing.runners] == ["{a}", "{b}"]

    pages.asked = 0
    with pytest.raises(NameInUse):  # a chosen NAME on the last page
        decide_from_pages(iter(pages), LABELS, scope="repository", name="cml-{c}",
                          check_name=True, reuse=False, reuse_idle=False)  # fmt: skip
    assert pages.asked == 3
