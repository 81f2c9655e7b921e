"""GCP networking decisions, plain data only: the firewall rule of ours and whether a Cloud NAT serves a subnet.

The runner needs outbound HTTPS only (Bitbucket, the runner image). A VM reaches the internet through an
external IP or, without one, through Cloud NAT ("To communicate with the internet, you can use an external IP
address configured on the instance. If no external IP address is configured on the instance, Cloud NAT can be
used", cloud.google.com/compute/docs/ip-addresses). A fresh project's default network has no Cloud NAT, so the
pipe gives an ephemeral external IP by default (GCP_EXTERNAL_IP) and closes inbound with a rule of its own:
the default network admits SSH, RDP and ICMP from anywhere (default-allow-ssh/-rdp/-icmp, priority 65534,
cloud.google.com/firewall/docs/firewalls#more_rules_default_vpc). A deny rule at priority 0 wins over every
allow rule (lower number first; on a tie deny wins, same page), so nothing reaches a runner's VM whatever
rules the project has. Cloud NAT itself admits no unsolicited inbound connection (cloud.google.com/nat/docs/
overview).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

# The network tag every runner VM carries; our firewall rule targets it.
NETWORK_TAG = "cml-runner-pipe"
_RULE_PREFIX = "cml-runner-deny-ingress-"
_NAT_ALL = ("ALL_SUBNETWORKS_ALL_IP_RANGES", "ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES")


def last(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


def firewall_name(network: str) -> str:
    """One rule per network, named after it; a name is at most 63 characters (a hash keeps long ones unique)."""
    name = _RULE_PREFIX + last(network)
    if len(name) > 63:
        name = _RULE_PREFIX + hashlib.sha256(last(network).encode()).hexdigest()[:16]
    return name


def network_path(network: str) -> str:
    return network if "/" in network else f"global/networks/{network}"


def deny_ingress_rule(network: str) -> dict[str, Any]:
    """The body of our rule: deny every protocol from anywhere to the runner VMs' tag, before any allow rule."""
    return {
        "name": firewall_name(network),
        "network": network_path(network),
        "description": f"CML Runner pipe: no inbound traffic to instances tagged {NETWORK_TAG}",
        "direction": "INGRESS",
        "priority": 0,
        "denied": [{"IPProtocol": "all"}],
        "sourceRanges": ["0.0.0.0/0"],
        "targetTags": [NETWORK_TAG],
    }


def nat_serving(routers: Iterable[Any], network: str, subnetwork: str) -> str:
    """'router/nat' of a Cloud NAT on network that serves subnetwork (an auto-mode subnet is named after its
    network), or "" when none does. routers: compute_v1.Router objects of the subnet's region."""
    subnet = last(subnetwork) if subnetwork else last(network)
    for router in routers:
        if last(router.network) != last(network):
            continue
        for nat in router.nats:
            served = {last(s.name) for s in nat.subnetworks}
            if nat.source_subnetwork_ip_ranges_to_nat in _NAT_ALL or subnet in served:
                return f"{router.name}/{nat.name}"
    return ""
