"""Can the launch start at all: the quotas it needs, checked before anything is created (issue 29).

A shortfall in every market the launch may use is one line (the quota, its value, what the launch needs and
where to ask for more) and exit 1; a spot shortfall with on-demand room is a warning and the launch goes
on-demand at once (GCP and Azure refuse a spot request past its quota with a quota error, which
pipe/runner/launch.py rightly does not fall back from); a quota that cannot be read is one warning and the
launch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from pipe.errors import PipeError
from pipe.providers.base import Provider
from pipe.providers.quota import QuotaNeed, QuotaUnreadable, ReadsQuotas
from pipe.runner.errors import RunnerFailure
from pipe.runner.plan import LaunchPlan


class QuotaShortfall(RunnerFailure):
    """The launch cannot start: a quota it needs is too small. str() is the one line."""


def check_quotas(provider: Provider, plan: LaunchPlan, log: logging.Logger) -> LaunchPlan:
    """The plan to launch: as given, or on-demand only when the spot quota is short and on-demand has room
    (a quota refusal is not a capacity shortage: no cloud falls back from it by itself)."""
    if not isinstance(provider, ReadsQuotas):
        return plan
    machine = plan.machine
    short: dict[bool, list[QuotaNeed]] = {}
    for spot in (True, False) if plan.spot else (False,):
        try:
            needs = provider.quota_needs(
                machine.instance_type, machine.accelerator, machine.accelerator_count, spot=spot
            )
        except QuotaUnreadable as unreadable:
            log.warning("Quota not checked: %s; the launch goes on.", unreadable)
            return plan
        for need in needs:
            log.info("Quota: %s%s.", need.fits(), " (short)" if need.short else "")
        short[spot] = [need for need in needs if need.short]
    if all(short.values()):
        lines = [need.line() for market in short.values() for need in market[:1]]
        raise QuotaShortfall("; ".join(dict.fromkeys(lines)))
    if short.get(True):
        log.warning("Spot: %s; the launch goes on-demand.", short[True][0].line())
        return replace(plan, spot=False)
    return plan


def check_quotas_dry_run(make_provider: Callable[[], Provider], plan: LaunchPlan, log: logging.Logger) -> None:
    """DRY_RUN: the same check; a cloud that cannot be signed in to or reached is one warning."""
    try:
        check_quotas(make_provider(), plan, log)
    except QuotaShortfall:
        raise
    except Exception as failure:  # noqa: BLE001 - a plan is printed whatever the cloud's SDK makes of the endpoint
        reason = str(failure).splitlines()[0][:300] if str(failure) else type(failure).__name__
        log.warning(
            "Quota not checked: %s.",
            reason if isinstance(failure, PipeError) else f"{type(failure).__name__}: {reason}",
        )
