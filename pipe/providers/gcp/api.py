"""The Compute Engine clients of one project, and the two ways the adapter talks through them.

call(): every call is retried on 5xx/429/connection errors with a short bounded backoff (the SDK's own retries
are off: retry=None), and an insert carries a requestId so a retried insert cannot create a second instance.
wait(): operations are waited on with our own ZoneOperationsClient built with the same client options (never
ExtendedOperation.result(), whose internal client ignores the endpoint), bounded by a deadline, with progress
every ~15 s.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from pipe.progress import Progress
from pipe.providers.base import ProviderError
from pipe.providers.gcp.errors import RETRYABLE, explain

T = TypeVar("T")
# The longest one wait call may block: GCP's operations.wait returns within about 2 minutes anyway.
_WAIT_CALL_S = 150.0


class ComputeApi:
    def __init__(
        self,
        project: str,
        region: str,
        *,
        endpoint: str | None,
        credentials: Any,
        source: str,
        poll_interval_s: float,
        operation_timeout_s: float,
        retry_attempts: int,
        retry_backoff_s: float,
    ) -> None:
        self.project = project
        self.region = region
        self.endpoint = endpoint
        self.source = source  # which credentials, for messages (safe to print)
        self.poll_interval_s = poll_interval_s
        self.operation_timeout_s = operation_timeout_s
        self.retry_attempts = max(1, retry_attempts)
        self.retry_backoff_s = retry_backoff_s
        self._credentials = credentials

    # ---- clients (built on first use; all share the endpoint and credentials) ---------------
    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"credentials": self._credentials, "transport": "rest"}
        if self.endpoint:
            kwargs["client_options"] = {"api_endpoint": self.endpoint}
        return kwargs

    @cached_property
    def instances(self) -> compute_v1.InstancesClient:
        return compute_v1.InstancesClient(**self._client_kwargs())

    @cached_property
    def operations(self) -> compute_v1.ZoneOperationsClient:
        return compute_v1.ZoneOperationsClient(**self._client_kwargs())

    @cached_property
    def images(self) -> compute_v1.ImagesClient:
        return compute_v1.ImagesClient(**self._client_kwargs())

    @cached_property
    def machine_types(self) -> compute_v1.MachineTypesClient:
        return compute_v1.MachineTypesClient(**self._client_kwargs())

    @cached_property
    def firewalls(self) -> compute_v1.FirewallsClient:
        return compute_v1.FirewallsClient(**self._client_kwargs())

    @cached_property
    def global_operations(self) -> compute_v1.GlobalOperationsClient:
        return compute_v1.GlobalOperationsClient(**self._client_kwargs())

    @cached_property
    def routers(self) -> compute_v1.RoutersClient:
        return compute_v1.RoutersClient(**self._client_kwargs())

    @cached_property
    def regions(self) -> compute_v1.RegionsClient:  # quota.py: the region's quotas
        return compute_v1.RegionsClient(**self._client_kwargs())

    @cached_property
    def projects(self) -> compute_v1.ProjectsClient:  # quota.py: the project-wide quotas
        return compute_v1.ProjectsClient(**self._client_kwargs())

    # ---- talking ----------------------------------------------------------------------------
    def call(self, fn: Callable[[], T], action: str) -> T:
        """fn() with bounded retries on transient errors."""
        for attempt in range(1, self.retry_attempts + 1):
            try:
                return fn()
            except RETRYABLE as exc:
                if attempt == self.retry_attempts:
                    status = getattr(exc, "code", None) or type(exc).__name__
                    raise ProviderError(
                        f"GCP API unavailable while trying to {action} ({status}) after {attempt} attempts; "
                        "retry the step later"
                    ) from None
                time.sleep(self.retry_backoff_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def explain(self, exc: gexc.GoogleAPICallError, action: str, permission: str) -> ProviderError:
        return explain(exc, action, permission, region=self.region, project=self.project, source=self.source)

    def wait(self, zone: str, op: compute_v1.Operation, action: str) -> compute_v1.Operation:
        """Poll our own ZoneOperationsClient.wait (GlobalOperationsClient for zone "") until DONE, bounded by
        operation_timeout_s."""
        deadline = time.monotonic() + self.operation_timeout_s
        progress = Progress(f"GCP to {action}")
        while op.status != compute_v1.Operation.Status.DONE:
            progress.tick(f"operation {op.name} {op.status.name if op.status else 'PENDING'}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError(
                    f"GCP operation {op.name} ({action}) not done after {self.operation_timeout_s:.0f} s"
                )
            started = time.monotonic()
            timeout = min(remaining, _WAIT_CALL_S)
            wait: Callable[[], compute_v1.Operation]
            if zone:
                zonal = compute_v1.WaitZoneOperationRequest(project=self.project, zone=zone, operation=op.name)
                wait = functools.partial(self.operations.wait, request=zonal, retry=None, timeout=timeout)
            else:
                glob = compute_v1.WaitGlobalOperationRequest(project=self.project, operation=op.name)
                wait = functools.partial(self.global_operations.wait, request=glob, retry=None, timeout=timeout)
            try:
                op = self.call(wait, f"wait for {action}")
            except gexc.GoogleAPICallError as exc:
                raise self.explain(exc, f"wait for {action}", "compute.zoneOperations.get") from None
            if op.status != compute_v1.Operation.Status.DONE:
                time.sleep(max(0.0, min(self.poll_interval_s - (time.monotonic() - started), remaining)))
        return op
