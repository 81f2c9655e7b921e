"""The local hypervisor's view of each emulated cloud (boot_payloads, test/support/fakes/emulated.py), without
booting a VM: it boots only what the real cloud would let reach Bitbucket."""

from __future__ import annotations

from fakes.gcp import FakeGcp

from pipe.providers.base import TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE

ZONE = "us-west1-a"


def test_a_gcp_instance_with_no_way_out_is_not_booted(fake_gcp: FakeGcp) -> None:
    for name in ("cml-egress", "cml-no-egress"):
        fake_gcp.add_instance(ZONE, name, labels={TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE})
        with fake_gcp.state.lock:
            fake_gcp.state.instances[(fake_gcp.project, ZONE, name)]["metadata"] = {
                "items": [{"key": "startup-script", "value": "#!/bin/bash\ntrue\n"}]
            }
    with fake_gcp.state.lock:  # inserted with no external IP on a subnet without Cloud NAT
        fake_gcp.state.no_egress.add((fake_gcp.project, ZONE, "cml-no-egress"))
    assert fake_gcp.boot_payloads() == {"cml-egress": b"#!/bin/bash\ntrue\n"}
