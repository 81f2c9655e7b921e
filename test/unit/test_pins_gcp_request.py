"""The GCP insert request (pipe/providers/gcp/request.py) at the edges a mutation run (issue #20) probes: the
label limits, which labels win a collision, the scopes of CLOUD_PERMISSION_SET, the startup script as bytes,
when a GPU is attached, and the floor of the cloud-side lifetime. test/adapters/test_gcp_adapter.py sends
the request through the SDK to the local GCP; here each setting is read off the plain request. Each test
names the mutants it kills.
"""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from google.cloud import compute_v1

from pipe.providers.base import TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE, TAG_RUNNER_UUID, InstanceSpec, ProviderError
from pipe.providers.gcp.request import (
    SCOPE_ALIASES,
    Network,
    instance_body,
    parse_permission_set,
    sanitise_labels,
    startup_script_text,
)

ZONE = "us-west1-b"


def spec(**kw: Any) -> InstanceSpec:
    base: dict[str, Any] = dict(
        name="cml-a1b2c3d4e5",
        region="us-west1",
        instance_type="n1-standard-4",
        image="projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64",
        disk_gb=35,
        user_data="#!/bin/bash\necho runner\n",
        tags={TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE},
    )
    return InstanceSpec(**(base | kw))


def body(**kw: Any) -> dict[str, Any]:
    """The insert body as the API receives it (unset fields left out)."""
    sent = instance_body(spec(**kw), ZONE, False, Network("us-west1", "default", external_ip=True))
    return compute_v1.Instance.to_dict(sent, always_print_fields_with_no_presence=False)


# ---- labels: GCP allows at most 64 per resource, keys of at most 63 characters starting with a letter
# (cloud.google.com/compute/docs/labeling-resources, "Requirements for labels")


def test_64_labels_are_sent_and_a_65th_is_refused_naming_cloud_metadata() -> None:
    """Kills `len(out) > 64` turned into `>= 64`, `> 63` (64 labels refused) and `> 65` (65 sent, which
    GCP refuses after the launch has begun)."""
    at_limit = {f"k{i}": "v" for i in range(63)} | {TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE}
    assert len(sanitise_labels(at_limit)) == 64
    assert len(body(tags=at_limit)["labels"]) == 64
    with pytest.raises(ProviderError, match="at most 64 labels per instance; CLOUD_METADATA gives 65 in all"):
        sanitise_labels(at_limit | {"k63": "v"})


def test_a_key_not_starting_with_a_letter_gets_an_x_and_stays_within_63_characters() -> None:
    """Kills `("x" + clean)[:63]` turned into `[:64]` (a 64-character key, which GCP refuses) and into
    `[:62]` (a key cut one character short)."""
    long_key = "9" * 63  # label_value keeps 63 characters; the x makes 64
    labels = sanitise_labels({long_key: "v", "_": "w"})
    assert labels == {"x" + "9" * 62: "v", "x": "w"}


def test_our_labels_win_a_collision_whatever_order_the_tags_come_in() -> None:
    """Kills the sort key `kv[0] in ours` turned into `kv[1]`/`kv[-1]` (the value instead of the key): ours
    must be written last, so a CLOUD_METADATA key that sanitises to one of ours never replaces its value,
    even when it comes after ours in the mapping (the sweep finds instances by these labels)."""
    tags = {
        TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE,
        TAG_RUNNER_UUID: "r1",
        "CML-Managed-By": "someone",
        "CML-Runner-UUID": "x",
    }
    assert sanitise_labels(tags) == {TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE, TAG_RUNNER_UUID: "r1"}


# ---- CLOUD_PERMISSION_SET: a blank scope item is skipped, never the end of the list


@pytest.mark.parametrize(
    ("text", "scopes"),
    [
        ("a@p.iam.gserviceaccount.com,scopes=storage-ro,,logging-write", ["storage-ro", "logging-write"]),
        ("a@p.iam.gserviceaccount.com,scopes=, storage-ro", ["storage-ro"]),
    ],
)
def test_a_blank_scope_item_is_skipped_and_the_scopes_after_it_are_kept(text: str, scopes: list[str]) -> None:
    """Kills `continue` turned into `break` on a blank item: the scopes after it would be dropped, and with
    none left the service account would get cloud-platform, the widest scope, instead of storage-ro."""
    assert parse_permission_set(text) == ("a@p.iam.gserviceaccount.com", [SCOPE_ALIASES[s] for s in scopes])


# ---- the startup script: text; bytes are decoded, gzip is refused (GCP does not unzip metadata)


def test_a_startup_script_given_as_bytes_is_sent_as_its_text() -> None:
    """Kills the gzip check `user_data[:2] == b"\\x1f\\x8b"` negated (`!=`, `not ... ==`): plain bytes
    would be refused as gzip."""
    assert startup_script_text(b"#!/bin/bash\necho caf\xc3\xa9\n") == "#!/bin/bash\necho café\n"
    items = body(user_data=b"#!/bin/bash\necho runner\n")["metadata"]["items"]
    assert {"key": "startup-script", "value": "#!/bin/bash\necho runner\n"} in items


def test_a_gzipped_startup_script_is_refused_with_a_clear_error() -> None:
    """Kills the gzip check negated, and `user_data[:2]` turned into `[:3]` or `[:1]` (a slice that never
    equals the two magic bytes): the gzip bytes would reach the decoder and end in a UnicodeDecodeError
    traceback instead of the one line saying what to do."""
    with pytest.raises(ProviderError, match="cannot be gzip-compressed; shorten CLOUD_STARTUP_SCRIPT"):
        startup_script_text(gzip.compress(b"#!/bin/bash\necho runner\n"))
    with pytest.raises(ProviderError, match="cannot be gzip-compressed"):
        body(user_data=gzip.compress(b"#!/bin/bash\n"))


# ---- a GPU is attached only with a type and a count


def test_an_accelerator_with_a_count_of_0_attaches_nothing_and_keeps_live_migration() -> None:
    """Kills `spec.accelerator_count > 0` turned into `>= 0` or `> -1`, and `and` into `or`: an accelerator
    named with no count would be attached as 0 GPUs (GCP refuses the request), with the driver metadata
    and TERMINATE on host maintenance."""
    sent = body(accelerator="nvidia-tesla-t4", accelerator_count=0)
    assert "guest_accelerators" not in sent
    assert sent["scheduling"] == {"provisioning_model": "STANDARD"}
    assert [i["key"] for i in sent["metadata"]["items"]] == ["startup-script", "block-project-ssh-keys"]


def test_a_count_without_an_accelerator_type_attaches_nothing() -> None:
    """Kills `and` turned into `or`: a count with no type would send `acceleratorTypes/` with an empty name."""
    sent = body(accelerator="", accelerator_count=1)
    assert "guest_accelerators" not in sent
    assert sent["scheduling"] == {"provisioning_model": "STANDARD"}


def test_one_accelerator_is_attached_with_its_type_and_count() -> None:
    sent = body(accelerator="nvidia-tesla-t4", accelerator_count=1)
    assert sent["guest_accelerators"] == [
        {"accelerator_type": f"zones/{ZONE}/acceleratorTypes/nvidia-tesla-t4", "accelerator_count": 1}
    ]
    assert sent["scheduling"]["on_host_maintenance"] == "TERMINATE"


# ---- the cloud-side lifetime (MAX_LIFETIME): at least 30 s


@pytest.mark.parametrize(("lifetime", "sent"), [(1, "30"), (10, "30"), (30, "30"), (31, "31"), (3600, "3600")])
def test_the_cloud_side_lifetime_is_the_max_lifetime_but_at_least_30_seconds(lifetime: int, sent: str) -> None:
    """Kills the floor `max(30, ...)` moved to 31 (a 30 s lifetime sent as 31) or 29 (a 10 s lifetime sent
    as 29). MAX_LIFETIME accepts any positive duration (`10s`); the request never goes below 30 s."""
    scheduling = body(max_lifetime_s=lifetime)["scheduling"]
    assert scheduling["max_run_duration"] == {"seconds": sent}
    assert scheduling["instance_termination_action"] == "DELETE"
