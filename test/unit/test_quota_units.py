"""The quota check and the runner cap decided on plain data (issue 29): which EC2 quota a type counts against,
which GCP metric a GPU type has, how a spot and an on-demand reading combine, and which runners MAX_RUNNERS
counts."""

from __future__ import annotations

import logging

import pytest

from pipe.bitbucket.models import Runner
from pipe.config.runner import RunnerSettings, load
from pipe.providers.quota import QuotaNeed, QuotaUnreadable
from pipe.runner.cap import RunnerCapReached, check_cap, counted
from pipe.runner.plan import MARKER_LABEL, build_plan
from pipe.runner.quota import QuotaShortfall, check_quotas


@pytest.mark.parametrize(
    ("instance_type", "spot", "code"),
    [
        ("m5.2xlarge", False, "L-1216C47A"),
        ("i3.large", False, "L-1216C47A"),
        ("inf2.xlarge", False, "L-1945791B"),
        ("d3.xlarge", False, "L-1216C47A"),
        ("dl1.24xlarge", False, "L-6E869C2A"),
        ("g4dn.xlarge", False, "L-DB2E81BA"),
        ("vt1.3xlarge", True, "L-3819A6DF"),
        ("p4d.24xlarge", False, "L-417A185B"),
        ("p5.48xlarge", True, "L-7212CCBC"),
        ("x2idn.16xlarge", False, "L-7295265B"),
        ("trn1.2xlarge", False, "L-2C3B7624"),
        ("t3.large", True, "L-34B43A08"),
        ("u-6tb1.metal", True, ""),  # High Memory: no spot
    ],
)
def test_each_instance_family_has_its_ec2_quota(instance_type: str, spot: bool, code: str) -> None:
    from pipe.providers.aws.quota import quota_of

    assert quota_of(instance_type, spot=spot)[0] == code


def test_gcp_gpu_metrics() -> None:
    from pipe.providers.gcp.quota import gpu_metric

    assert gpu_metric("nvidia-tesla-t4") == "NVIDIA_T4_GPUS"
    assert gpu_metric("nvidia-l4") == "NVIDIA_L4_GPUS"
    assert gpu_metric("nvidia-a100-80gb") == "NVIDIA_A100_80GB_GPUS"
    assert gpu_metric("nvidia-h100-80gb") == "NVIDIA_H100_GPUS"


class Reading:
    cloud = "aws"
    region = "us-west-1"

    def __init__(self, spot: QuotaNeed | None, on_demand: QuotaNeed | None, fail: bool = False) -> None:
        self.answers = {True: spot, False: on_demand}
        self.fail = fail

    def quota_needs(
        self, instance_type: str, accelerator: str, accelerator_count: int, *, spot: bool
    ) -> list[QuotaNeed]:
        if self.fail:
            raise QuotaUnreadable("denied")
        answer = self.answers[spot]
        return [answer] if answer else []


def need(name: str, limit: float, usage: float | None = 0) -> QuotaNeed:
    return QuotaNeed(name, limit, usage, 4, "vCPUs", "https://example.test/ask")


def plan(spot: bool) -> object:
    settings: RunnerSettings = load({"CLOUD": "aws", "CLOUD_GPU": "t4", "CLOUD_SPOT": str(spot).lower()})
    return build_plan(settings, "cml-test", 0)


def test_a_shortfall_in_the_only_market_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(QuotaShortfall) as failure:
        check_quotas(Reading(None, need("OD", 2)), plan(False), logging.getLogger("t"))  # type: ignore[arg-type]
    assert (
        str(failure.value) == "OD is 2 vCPUs, 0 in use; this launch needs 4: ask for more at https://example.test/ask"
    )


def test_usage_counts_and_unread_usage_compares_the_value_alone() -> None:
    log = logging.getLogger("t")
    check_quotas(Reading(None, need("OD", 8, 4)), plan(False), log)  # type: ignore[arg-type]  # 4 + 4 fits in 8
    with pytest.raises(QuotaShortfall):
        check_quotas(Reading(None, need("OD", 8, 5)), plan(False), log)  # type: ignore[arg-type]
    check_quotas(Reading(None, need("OD", 4, None)), plan(False), log)  # type: ignore[arg-type]


def test_spot_short_alone_warns_and_both_short_fail(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("t")
    launched = check_quotas(Reading(need("SPOT", 0), need("OD", 8)), plan(True), log)  # type: ignore[arg-type]
    assert not launched.spot  # straight to on-demand: a quota refusal is not a capacity shortage
    assert "the launch goes on-demand" in caplog.text
    assert check_quotas(Reading(need("SPOT", 8), need("OD", 0)), plan(True), log).spot  # type: ignore[arg-type]
    with pytest.raises(QuotaShortfall) as failure:
        check_quotas(Reading(need("SPOT", 0), need("OD", 0)), plan(True), log)  # type: ignore[arg-type]
    assert "SPOT is 0" in str(failure.value) and "OD is 0" in str(failure.value)


def test_an_unreadable_quota_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    check_quotas(Reading(None, None, fail=True), plan(False), logging.getLogger("t"))  # type: ignore[arg-type]
    assert "Quota not checked: denied; the launch goes on." in caplog.text


def runner(name: str, labels: tuple[str, ...], status: str = "ONLINE", uuid: str = "") -> Runner:
    return Runner(uuid or "{" + name + "}", name, labels, status, False)


def test_the_cap_counts_our_runners_with_every_label() -> None:
    wanted = ("cml.gpu",)
    runners = [
        runner("a", ("self.hosted", "cml.gpu", MARKER_LABEL)),
        runner("b", ("self.hosted", "cml.gpu", "extra", MARKER_LABEL), status="OFFLINE"),
        runner("c", ("self.hosted", "cml.gpu")),  # not ours
        runner("d", ("self.hosted", MARKER_LABEL)),  # without the label
        runner("e", ("cml.gpu", MARKER_LABEL), status="DISABLED"),  # being retired
    ]
    assert [r.name for r in counted(runners, wanted, None)] == ["a", "b"]
    assert [r.name for r in counted(runners, wanted, {"b"})] == ["b"]  # workspace scope: this repository's only
    check_cap(3, counted(runners, wanted, None), wanted)
    check_cap(None, counted(runners, wanted, None), wanted)
    with pytest.raises(RunnerCapReached, match=r"^MAX_RUNNERS: 2 reached: .* 2 runner\(s\) .*cml.gpu \(a, b\)"):
        check_cap(2, counted(runners, wanted, None), wanted)
