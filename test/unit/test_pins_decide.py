"""Reuse or provision (pipe/runner/decide.py): what a mutation run (issue #20) found unpinned.

decide() works on plain data; the reason it gives is what the user reads in the log ("Provisioning a new
runner: <reason>." in pipe/commands/runner.py), so it is asserted too. Each test names the mutant it kills.
"""

from __future__ import annotations

from pipe.bitbucket.models import Runner
from pipe.runner.decide import decide, decide_from_pages

LABELS = ("self.hosted", "linux", "cml.runner")


def runner(uuid: str, *, busy: bool = False, labels: tuple[str, ...] = LABELS, status: str = "ONLINE") -> Runner:
    return Runner(uuid=uuid, name=f"cml-{uuid}", labels=labels, status=status, busy=busy, created_on="", updated_on="")


def test_reuse_skips_an_online_idle_runner_that_lacks_one_requested_label() -> None:
    """Kills `wanted <= set(r.labels)` dropped or turned into `wanted & set(r.labels)` / `>=`."""
    partial = runner("partial", labels=("self.hosted", "linux"))
    extra = runner("extra", labels=(*LABELS, "gpu.free"))
    for reuse, reuse_idle in ((True, False), (False, True)):
        decision = decide([partial, extra], LABELS, name="cml-new", reuse=reuse, reuse_idle=reuse_idle)
        assert (decision.action, decision.runner) == ("reuse", extra)
        assert decide([partial], LABELS, name="cml-new", reuse=reuse, reuse_idle=reuse_idle).action == "provision"


def test_the_reason_to_provision_tells_busy_from_missing_and_is_silent_without_reuse() -> None:
    """Kills `if reuse_idle and matching:` turned into `if not reuse_idle and matching:` or `if reuse_idle or
    matching:` (the user would read that every runner is busy when none has the labels, or a reuse reason
    when they asked for no reuse)."""
    busy = runner("busy", busy=True)
    assert decide([busy], LABELS, name="x", reuse=False, reuse_idle=True).reason == (
        "every online runner with the labels is busy"
    )
    assert decide([], LABELS, name="x", reuse=False, reuse_idle=True).reason == "no online runner with the labels"
    assert decide([], LABELS, name="x", reuse=True, reuse_idle=False).reason == "no online runner with the labels"
    assert decide([busy], LABELS, name="x", reuse=False, reuse_idle=False) == decide(
        [], LABELS, name="x", reuse=False, reuse_idle=False
    )
    assert decide([busy], LABELS, name="x", reuse=False, reuse_idle=False).reason == ""


def test_an_offline_runner_with_the_labels_is_never_reused() -> None:
    """Kills `r.status == "ONLINE"` turned into `!=` or dropped."""
    offline = runner("off", status="OFFLINE")
    for reuse, reuse_idle in ((True, False), (False, True)):
        assert decide([offline], LABELS, name="x", reuse=reuse, reuse_idle=reuse_idle).action == "provision"


def test_a_listing_of_which_no_page_was_read_is_not_complete() -> None:
    """The sweep treats a complete listing as proof of which runners exist; pages that never came prove
    nothing. Kills `more = True` turned into `more = False` in decide_from_pages."""
    decision, listing = decide_from_pages(
        iter([]), LABELS, scope="repository", name="x", check_name=False, reuse=False, reuse_idle=False
    )
    assert decision.action == "provision"
    assert (listing.runners, listing.complete) == ((), False)
    _, read = decide_from_pages(
        iter([([runner("a")], False)]), LABELS, scope="repository", name="x", check_name=False, reuse=False,
        reuse_idle=False,
    )  # fmt: skip
    assert read.complete
