"""A new runner's launch (pipe/runner/provision.py) against in-process stand-ins for Bitbucket's runner calls and
one cloud (issue #20): what it hands the cloud, how it waits, and what its rollback removes and says. The real
process runs the same story in test/e2e/test_runner_aws.py; these pin the edges that would cost a run each
there. Each test's docstring names the mutants it kills (`make mutate MODULE=provision.py`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pytest
from fakes.clock import FakeClock

from pipe.bitbucket.client import BitbucketError
from pipe.bitbucket.models import RegisteredRunner, Repository, Runner
from pipe.bootstrap import runner_env_from_script
from pipe.config.clouds import AwsOptions
from pipe.config.runner import RunnerSettings
from pipe.providers.base import Instance, InstanceSpec, ProviderError, Trouble
from pipe.providers.tags import TAG_RUNNER_UUID, runner_tag
from pipe.runner import wait
from pipe.runner.errors import RunnerFailure
from pipe.runner.plan import LaunchPlan, build_plan
from pipe.runner.provision import provision
from pipe.runner.rollback import Interrupted

REPOSITORY = Repository(
    "acme/ml", "{21111111-2222-3333-4444-555555555555}", "{11111111-2222-3333-4444-555555555555}", "main"
)
RUNNER_UUID = "{0a1b2c3d-1111-2222-3333-444455556666}"
OTHER_UUID = "{0a1b2c3d-9999-2222-3333-444455556666}"
LOG = logging.getLogger("test.provision")


class Bitbucket:
    """The runner calls provision makes; `statuses` is what successive get_runner calls answer."""

    def __init__(self, statuses: Sequence[str] = ("ONLINE",), *, lose_registration: bool = False) -> None:
        self.statuses = list(statuses)
        self.lose_registration = lose_registration
        self.runners: dict[str, Runner] = {}
        self.calls: list[str] = []

    def create_runner(self, name: str, labels: list[str]) -> RegisteredRunner:
        self.calls.append("create")
        runner = Runner(RUNNER_UUID, name, tuple(labels), "UNREGISTERED", False)
        self.runners[runner.uuid] = runner
        if self.lose_registration:  # it registered, but its answer (with the only copy of the secret) is gone
            raise BitbucketError("POST runners: the connection was reset", None)
        return RegisteredRunner(runner, "client-id-1", "client=secret-1")

    def runners_named(self, name: str, labels: list[str]) -> list[Runner]:
        self.calls.append("runners_named")
        return [r for r in self.runners.values() if r.name == name and list(r.labels) == labels]

    def get_runner(self, uuid: str) -> Runner | None:
        self.calls.append("get")
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return replace(self.runners[uuid], status=status) if uuid in self.runners else None

    def delete_runner(self, uuid: str) -> None:
        self.calls.append(f"delete {uuid}")
        self.runners.pop(uuid, None)


@dataclass
class Cloud:
    """One cloud of the Provider protocol, in memory. `fail` is raised by launch."""

    image_gb: int | None = None
    fail: BaseException | None = None
    cloud: str = "aws"
    region: str = "us-west-1"
    launched: list[tuple[InstanceSpec, str, bool]] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    terminated: list[str] = field(default_factory=list)

    def zones(self, instance_type: str) -> list[str]:
        return ["us-west-1b", "us-west-1c"]

    def resolve_image(self, requested: str, gpu: bool) -> str:
        return requested or "ami-0123456789abcdef0"

    def image_disk_gb(self, image: str) -> int | None:
        return self.image_gb

    def launch(self, spec: InstanceSpec, zone: str, spot: bool) -> Instance:
        self.launched.append((spec, zone, spot))
        instance = Instance("aws", f"i-{len(self.instances)}", spec.name, self.region, zone, spec.instance_type,
                            spot, "pending", dict(spec.tags))  # fmt: skip
        self.instances.append(instance)
        if self.fail is not None:
            raise self.fail
        return instance

    def list_ours(self, repository_tag: str | None = None, *, with_state: bool = True) -> list[Instance]:
        return [i for i in self.instances if i.id not in self.terminated]

    def terminate(self, instance: Instance) -> None:
        self.terminated.append(instance.id)

    def terminate_many(self, instances: Sequence[Instance], *, wait: bool = True) -> None:
        self.terminated += [i.id for i in instances]


@dataclass
class TroubledCloud(Cloud):
    """A cloud that sees its workload's trouble (pipe.providers.base.ReportsTrouble), as Kubernetes does."""

    troubles: list[Trouble | None] = field(default_factory=list)

    def trouble(self, instance: Instance) -> Trouble | None:
        return self.troubles.pop(0) if self.troubles else None


def plan(**settings: object) -> LaunchPlan:
    return build_plan(RunnerSettings("aws", AwsOptions(), **settings), "cml-abcdefghij", 1_700_000_000)  # type: ignore[arg-type]


def run(
    bitbucket: Bitbucket, cloud: Cloud, launch: LaunchPlan | None = None, poll_every_s: float | None = 0.01
) -> Runner:
    launched = provision(
        bitbucket,  # type: ignore[arg-type]
        cloud,
        launch or plan(),
        repository=REPOSITORY,
        repo_uuid=REPOSITORY.uuid,
        pipeline="7",
        poll_every_s=poll_every_s,
        log=LOG,
    )
    return launched.runner


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The wait's clock (pipe.runner.wait.Clock), moved only by its sleeps."""
    fake = FakeClock(1000.0)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        fake.sleep(seconds)

    real_clock = wait.Clock
    monkeypatch.setattr(wait, "Clock", lambda: real_clock(now=fake.now, sleep=sleep))
    fake.sleeps = sleeps  # type: ignore[attr-defined]
    return fake


# --- what the cloud is handed


def test_the_instance_boots_the_registered_runner_with_its_own_secret(clock: FakeClock) -> None:
    """A VM launch carries the rendered boot script with the runner's uuid and secret (a Kubernetes launch
    carries none: its provider builds the pod), in the provider's zones, tagged with the runner. Kills
    `"" if plan.kubernetes is not None` turned to `is None` or negated, and the zones' `or` to `and`."""
    bitbucket, cloud = Bitbucket(), Cloud()
    assert run(bitbucket, cloud, poll_every_s=None).status == "ONLINE"
    [(spec, zone, spot)] = cloud.launched
    env = runner_env_from_script(spec.user_data)
    assert (env["RUNNER_UUID"], env["OAUTH_CLIENT_SECRET"]) == (RUNNER_UUID, "client=secret-1")
    assert (zone, spot) == ("us-west-1b", False) and spec.tags[TAG_RUNNER_UUID] == runner_tag(RUNNER_UUID)
    assert cloud.terminated == [] and list(bitbucket.runners) == [RUNNER_UUID]


def test_a_root_disk_grown_to_the_images_size_is_said_and_an_unchanged_one_is_not(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An image bigger than the default disk makes the disk bigger (it costs more): the log says so, once; a
    disk left as asked says nothing. Kills `if disk_gb != plan.disk_gb` turned to `==` or negated."""
    with caplog.at_level(logging.INFO, logger=LOG.name):
        run(Bitbucket(), cloud := Cloud(image_gb=80))
    [(spec, _, _)] = cloud.launched
    default_gb = plan().disk_gb
    assert spec.disk_gb == 80 > default_gb
    assert [r.getMessage() for r in caplog.records if "Root disk" in r.getMessage()] == [
        f"Root disk: 80 GB, the size of image ami-0123456789abcdef0 (more than {default_gb} GB)."
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOG.name):
        run(Bitbucket(), Cloud(image_gb=default_gb - 10))
    assert not [r for r in caplog.records if "Root disk" in r.getMessage()]


# --- how it waits


def test_without_the_test_override_the_status_is_polled_at_the_rate_limited_cadence(clock: FakeClock) -> None:
    """In a pipeline (no CML_RUNNER_POLL_SECONDS) the runner is polled every 4.5 s, within Bitbucket's budget
    (pipe/runner/wait.py); the override replaces that cadence. Kills `poll_every_s or POLL_EVERY_S` and
    `poll_every_s or AVERAGE_EVERY_S` with `or` to `and` (None then reaches the wait, or the override is
    dropped)."""
    run(Bitbucket(["OFFLINE", "OFFLINE", "OFFLINE", "ONLINE"]), Cloud(), poll_every_s=None)
    assert clock.sleeps == [wait.POLL_EVERY_S] * 3  # type: ignore[attr-defined]
    clock.sleeps.clear()  # type: ignore[attr-defined]
    run(Bitbucket(["OFFLINE", "OFFLINE", "ONLINE"]), Cloud(), poll_every_s=0.25)
    assert clock.sleeps == [0.25, 0.25]  # type: ignore[attr-defined]


def test_a_workloads_trouble_is_said_once_and_fatal_trouble_ends_the_wait_and_rolls_back(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Kubernetes-like providers see why the workload is not up: each new trouble is one WARNING (not one per
    poll), a quiet poll says nothing, and fatal trouble ends the wait at once with its reason, the runner and
    the instance removed. Kills the ReportsTrouble check negated or dropped, `found is None` to `is not None`
    or negated, `message not in seen` negated and `if found.fatal` negated."""
    cloud = TroubledCloud(troubles=[None, Trouble("pulling image docker:dind"), Trouble("pulling image docker:dind"),
                                    None, Trouble("image docker:dind not found", fatal=True)])  # fmt: skip
    bitbucket = Bitbucket(["OFFLINE"])
    with caplog.at_level(logging.WARNING, logger=LOG.name), pytest.raises(RunnerFailure) as failure:
        run(bitbucket, cloud)
    assert str(failure.value) == "image docker:dind not found (rolled back: the runner and instance were removed)"
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "pulling image docker:dind",
        "image docker:dind not found",
    ]
    assert bitbucket.calls.count("get") == 5 and bitbucket.runners == {} and cloud.terminated == ["i-0"]


def test_a_cloud_without_trouble_reports_is_only_polled(clock: FakeClock) -> None:
    """A VM cloud has no trouble() (AWS, GCP, Azure): the wait only polls Bitbucket. Kills the ReportsTrouble
    check negated (a watcher calling a method the cloud does not have)."""
    assert run(Bitbucket(["OFFLINE", "ONLINE"]), Cloud()).status == "ONLINE"


# --- what a failure removes and says


def test_a_failure_is_said_in_its_first_line_and_the_rollback_removes_only_this_runners_instance(
    clock: FakeClock,
) -> None:
    """The one-line failure is the first line of the cause; the rollback deletes the runner it registered (by
    uuid: no listing) and terminates the instance tagged with this runner, not another runner's instance in the
    same repository. Kills `splitlines()[0]` to `[-1]`, the runner-tag match `==` to `!=`, and the deletion's
    `created or runners_named(...)` to `and` (a listing instead of the known uuid)."""
    other = Instance("aws", "i-other", "cml-other", "us-west-1", "us-west-1b", "m5.2xlarge", False, "running",
                     {TAG_RUNNER_UUID: runner_tag(OTHER_UUID)})  # fmt: skip
    cloud = Cloud(fail=ProviderError("RunInstances refused: InvalidParameterValue\nrequest id 1234"))
    cloud.instances.append(other)
    bitbucket = Bitbucket()
    with pytest.raises(RunnerFailure) as failure:
        run(bitbucket, cloud)
    assert str(failure.value) == (
        "RunInstances refused: InvalidParameterValue (rolled back: the runner and instance were removed)"
    )
    assert cloud.terminated == ["i-1"] and "i-other" not in cloud.terminated
    assert bitbucket.calls == ["create", f"delete {RUNNER_UUID}"] and bitbucket.runners == {}


def test_a_failure_without_a_message_is_named_by_its_kind(clock: FakeClock) -> None:
    """An exception with no text still gives a line that says something. Kills the `if str(failure)` choice
    negated."""
    with pytest.raises(RunnerFailure, match=r"^RuntimeError \(rolled back: the runner and instance were removed\)$"):
        run(Bitbucket(), Cloud(fail=RuntimeError()))


def test_a_registration_whose_answer_was_lost_is_found_by_name_and_deleted(clock: FakeClock) -> None:
    """The POST registered the runner but its answer never came: the rollback finds it by its name and labels
    and deletes it, so no runner is left behind. Kills the deletion's `or` to `and` and its loop run zero
    times."""
    bitbucket = Bitbucket(lose_registration=True)
    with pytest.raises(RunnerFailure, match=r"connection was reset \(rolled back"):
        run(bitbucket, cloud := Cloud())
    assert bitbucket.runners == {} and f"delete {RUNNER_UUID}" in bitbucket.calls and cloud.launched == []


def test_sigterm_during_the_launch_rolls_back_before_the_failure(clock: FakeClock) -> None:
    """SIGTERM (Bitbucket stopping the step) is not an Exception: it is caught too, everything is removed
    and the failure says what stopped it. Kills the `except (Exception, Interrupted)` losing Interrupted."""
    bitbucket = Bitbucket()
    with pytest.raises(RunnerFailure, match=r"^stopped by SIGTERM \(rolled back"):
        run(bitbucket, cloud := Cloud(fail=Interrupted(15)))
    assert bitbucket.runners == {} and cloud.terminated == ["i-0"]


def test_a_failed_rollback_step_says_rollback_incomplete_and_names_the_sweep(clock: FakeClock) -> None:
    """A rollback step that fails itself (the runner cannot be deleted) is named, with the sweep to run: an
    instance or a runner may be left. Kills `if failed` negated."""
    bitbucket = Bitbucket()

    def refuse(uuid: str) -> None:
        raise BitbucketError("DELETE runner: 403 Forbidden", 403)

    bitbucket.delete_runner = refuse  # type: ignore[method-assign]
    with pytest.raises(RunnerFailure) as failure:
        run(bitbucket, Cloud(fail=ProviderError("no capacity")))
    assert str(failure.value) == "no capacity; rollback incomplete (delete runner cml-abcdefghij): run COMMAND: sweep"
