"""One instance from a list of options: spot in each zone, then on-demand in each zone.

The order is the cheapest first; an adapter's CapacityError moves on to the
next option, anything else stops at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pipe.providers.base import CapacityError, Instance, InstanceSpec, Provider, ProviderError

log = logging.getLogger(__name__)


def attempts(zones: list[str], spot: bool) -> list[tuple[str, bool]]:
    markets = [True, False] if spot else [False]
    return [(zone, market) for market in markets for zone in zones]


def launch_with_fallback(provider: Provider, spec: InstanceSpec, zones: list[str], spot: bool) -> Instance:
    warned = False
    for zone, use_spot in attempts(zones, spot):
        if spot and not use_spot and not warned:
            log.warning(
                "No spot capacity for %s in %s: falling back to on-demand.", spec.instance_type, provider.region
            )
            warned = True
        market = "spot" if use_spot else "on-demand"
        # An empty zone is a regional request (Azure): the cloud picks the zone.
        log.info("Launching %s (%s) in %s...", spec.instance_type, market, zone or f"{provider.region} (any zone)")
        try:
            return provider.launch(spec, zone, use_spot)
        except CapacityError as shortage:
            log.warning("No capacity: %s", shortage)
    tried = ", ".join(zone or "any zone" for zone in zones)
    raise ProviderError(
        f"no capacity for {spec.instance_type} in any zone of {provider.region} ({tried}, "
        f"{'spot and on-demand' if spot else 'on-demand'}); try another CLOUD_REGION or CLOUD_TYPE"
    )


def terminate_ours(provider: Provider, repo_tag: str, match: Callable[[Instance], bool]) -> None:
    """A rollback step: our instances in this repository that `match` (by the tag the launch gave them, so an
    instance whose launch call was cut short is found too) are terminated."""
    mine = [i for i in provider.list_ours(repo_tag, with_state=False) if match(i)]
    if mine:
        provider.terminate_many(mine)
