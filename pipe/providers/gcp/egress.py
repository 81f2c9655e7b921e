"""Once per run, before the first insert: our deny-ingress rule exists on the network, and without an external
IP a Cloud NAT serves the subnet (else the runner could never reach Bitbucket: refuse now rather than wait it
out). The decisions are network.py's; these are the calls."""

from __future__ import annotations

import json
import logging
import uuid

from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from pipe.providers.base import ProviderError
from pipe.providers.gcp.api import ComputeApi
from pipe.providers.gcp.errors import op_error
from pipe.providers.gcp.network import NETWORK_TAG, deny_ingress_rule, firewall_name, nat_serving
from pipe.providers.gcp.request import Network

log = logging.getLogger("pipe.providers.gcp")


def ensure_firewall(api: ComputeApi, network: str) -> None:
    name = firewall_name(network)
    action = f"create firewall rule {name}"
    permission = (
        "compute.firewalls.get, compute.firewalls.create and compute.networks.updatePolicy "
        "(roles/compute.securityAdmin), or an administrator creates the rule once: gcloud compute firewall-rules "
        f"create {name} --network={network} --direction=INGRESS --priority=0 --action=DENY "
        f"--rules=all --source-ranges=0.0.0.0/0 --target-tags={NETWORK_TAG}"
    )
    try:
        api.call(lambda: api.firewalls.get(project=api.project, firewall=name, retry=None), action)
        return  # created by an earlier run (or an administrator): shared, kept
    except gexc.NotFound:
        pass
    except gexc.GoogleAPICallError as exc:
        raise api.explain(exc, action, permission) from None
    rule = compute_v1.Firewall.from_json(json.dumps(deny_ingress_rule(network)))  # REST names
    request = compute_v1.InsertFirewallRequest(project=api.project, firewall_resource=rule,
                                               request_id=str(uuid.uuid4()))  # fmt: skip
    try:
        op = api.call(lambda: api.firewalls.insert_unary(request=request, retry=None), action)
    except gexc.Conflict:
        return  # a concurrent launch created it first
    except gexc.GoogleAPICallError as exc:
        raise api.explain(exc, action, permission) from None
    code, message = op_error(api.wait("", op, action))
    if code and code != "RESOURCE_ALREADY_EXISTS":
        raise ProviderError(f"GCP failed to {action} ({code}): {message}")


def require_nat(api: ComputeApi, way: Network) -> None:
    action = f"list the Cloud Routers of {api.region}"
    try:
        routers = api.call(lambda: list(api.routers.list(project=api.project, region=api.region, retry=None)), action)
    except gexc.Forbidden:
        log.warning("Could not check for Cloud NAT in %s (no compute.routers.list): GCP_EXTERNAL_IP is false, "
                    "so the instance reaches Bitbucket only if the subnet has Cloud NAT", api.region)  # fmt: skip
        return
    except gexc.GoogleAPICallError as exc:
        raise api.explain(exc, action, "compute.routers.list") from None
    nat = nat_serving(routers, way.network, way.subnetwork)
    if not nat:
        raise ProviderError(
            f"GCP_EXTERNAL_IP: 'false' is not valid here; network {way.network} has no Cloud NAT serving "
            f"{way.subnetwork or 'its subnet'} in {api.region}, so the instance could not reach Bitbucket or "
            "pull the runner image. Leave GCP_EXTERNAL_IP unset (an ephemeral external IP; inbound stays closed) "
            "or add Cloud NAT to the subnet"
        )
    log.info("No external IP: the instance reaches the internet through Cloud NAT %s", nat)
