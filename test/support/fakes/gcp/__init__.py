"""A local stand-in for the Compute Engine v1 REST API, for tests and the demo.

Real HTTP on 127.0.0.1 (stdlib ThreadingHTTPServer), stateful, serving only the
routes the GCP adapter uses. The real ``google-cloud-compute`` client talks to it
with ``client_options={"api_endpoint": server.url}``, AnonymousCredentials and
``transport="rest"``.

Faithful where it matters to the adapter:
- operations go PENDING -> RUNNING -> DONE over polls (``zoneOperations.get``
  and ``zoneOperations.wait`` each advance one step), so callers really wait;
- ids are decimal strings and int64 fields are sent as strings;
- egress as a real project has it: an instance with neither an external IP (accessConfigs) nor a
  Cloud NAT on its network's router in its region has no way to the internet
  (cloud.google.com/compute/docs/ip-addresses: "If no external IP address is configured on the
  instance, Cloud NAT can be used"); the fake accepts the insert, as the API does, and records it
  (``has_egress()``), so the VM stand-in of the tests never reaches Bitbucket from it;
- errors use Google's JSON error shape (``error.code/message/errors[].reason``);
- request bodies and query parameters are checked against Google's discovery
  document for compute v1 (shipped in google-api-python-client) and rejected
  with 400 like the real API rejects unknown names;
- insert enforces the rules that bite in production: guest accelerators, and machine
  types with built-in GPUs (g2, a2, a3...), need ``onHostMaintenance: TERMINATE``, Spot needs TERMINATE and no automatic
  restart, ``maxRunDuration`` needs ``instanceTerminationAction``.

Control API (tests): ``capacity()``, ``fail()``, ``fail_operation()``,
``slow_operations()``, ``add_image()``, ``add_router()``, ``firewalls()``, ``has_egress()``, ``set_machine_types()``,
``add_instance()``, ``instances()``, ``requests``, ``reset()``; for images made from disks (COMMAND: bake,
``images.py``, which keeps GCE's image rules): ``image_rules`` (hold_pending, fail_new), ``release_images()``,
``images_of()``, ``disks()``.

Demo: ``python -m fakes.gcp --port 8090`` (with ``test/support/`` on sys.path).

Laid out as test/support/fakes/bitbucket/ is: ``schema`` (Google's discovery document: the checks every request
body and query passes), ``state`` (what the fake knows, the faults and the request log), ``routes`` (one
handler per Compute method), ``server`` (HTTP and ``FakeGcp``, the control API), ``__main__`` (run it alone).

"""

from fakes.gcp.routes import ROUTES, ComputeApi
from fakes.gcp.schema import discovery, discovery_method, discovery_path, validate, validate_query
from fakes.gcp.server import FakeGcp
from fakes.gcp.state import (
    CAPACITY_MESSAGE,
    DEFAULT_IMAGES,
    DEFAULT_MACHINE_TYPES,
    DEFAULT_PROJECT,
    DEFAULT_ZONES,
    ApiError,
    Fault,
    GcpState,
    RequestRecord,
    parse_filter,
)

__all__ = [
    "CAPACITY_MESSAGE",
    "DEFAULT_IMAGES",
    "DEFAULT_MACHINE_TYPES",
    "DEFAULT_PROJECT",
    "DEFAULT_ZONES",
    "ROUTES",
    "ApiError",
    "ComputeApi",
    "FakeGcp",
    "Fault",
    "GcpState",
    "RequestRecord",
    "discovery",
    "discovery_method",
    "discovery_path",
    "parse_filter",
    "validate",
    "validate_query",
]
