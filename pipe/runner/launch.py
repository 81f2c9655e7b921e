"""One instance from a list of options: spot in each zone, then (CLOUD_SPOT_FALLBACK: on-demand) on-demand in
each zone.

The order is the cheapest first; an adapter's CapacityError moves on to the
next option, anything else stops at once. A spot price above CLOUD_SPOT_PRICE (AWS's SpotMaxPriceTooLow) moves
on to the next zone's spot market, as spot prices are per Availability Zone (EC2 API reference, SpotPrice:
"The Availability Zone"), but never to on-demand unless CLOUD_SPOT_FALLBACK says so: a price cap is a cap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pipe.providers.base import CapacityError, Instance, InstanceSpec, Provider, ProviderError

log = logging.getLogger(__name__)


def attempts(zones: list[str], spot: bool, fallback: bool = True) -> list[tuple[str, bool]]:
    markets = ([True, False] if fallback else [True]) if spot else [False]
    return [(zone, market) for market in markets for zone in zones]


def launch_with_fallback(
    provider: Provider,
    spec: InstanceSpec,
    zones: list[str],
    spot: bool,
    *,
    fallback: bool = True,
    spot_price: float | None = None,
) -> Instance:
    """``fallback``: CLOUD_SPOT_FALLBACK is on-demand; ``spot_price``: CLOUD_SPOT_PRICE, for the messages."""
    warned = False
    for zone, use_spot in attempts(zones, spot, fallback):
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
    if spot and not fallback:
        cap = f" at or below CLOUD_SPOT_PRICE ${spot_price}/h" if spot_price is not None else ""
        log.warning("No spot capacity%s for %s in %s: not falling back to on-demand (CLOUD_SPOT_FALLBACK: none).",
                    cap, spec.instance_type, provider.region)  # fmt: skip
        raise ProviderError(
            f"no spot capacity{cap} for {spec.instance_type} in any zone of {provider.region} ({tried}); nothing "
            f"launched on-demand (CLOUD_SPOT_FALLBACK: none): "
            + ("raise CLOUD_SPOT_PRICE, " if spot_price is not None else "")
            + "try another CLOUD_REGION or CLOUD_TYPE, or set CLOUD_SPOT_FALLBACK: 'on-demand'"
        )
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
