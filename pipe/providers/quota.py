"""What a launch needs of the cloud's quotas, read before anything is created (issue 29).

Each VM cloud's quota.py reads its own quotas (AWS Service Quotas, GCP regions.get and projects.get, Azure's
compute usages list) and answers with QuotaNeed rows; pipe/runner/quota.py decides on them. Cloud-neutral, no
SDK imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pipe.providers.base import ProviderError


@dataclass(frozen=True)
class QuotaNeed:
    """One quota the launch counts against: its value, what is in use (None: the cloud's quota API does not say)
    and what this launch adds, in the quota's unit."""

    name: str  # the quota as the cloud's console names it, e.g. "EC2 quota L-DB2E81BA (Running On-Demand G ...)"
    limit: float
    usage: float | None
    need: float
    unit: str  # "vCPUs" or "GPUs"
    ask: str  # where to ask for more

    @property
    def short(self) -> bool:
        return (self.usage or 0) + self.need > self.limit

    def line(self) -> str:
        used = "" if self.usage is None else f", {_n(self.usage)} in use"
        return (
            f"{self.name} is {_n(self.limit)} {self.unit}{used}; this launch needs {_n(self.need)}: "
            f"ask for more at {self.ask}"
        )

    def fits(self) -> str:
        used = "usage not read" if self.usage is None else f"{_n(self.usage)} in use"
        return f"{self.name}: {_n(self.limit)} {self.unit}, {used}, this launch needs {_n(self.need)}"


class QuotaUnreadable(ProviderError):
    """The quota could not be read (permission denied, no such API here): one warning, and the launch goes on."""


@runtime_checkable
class ReadsQuotas(Protocol):
    """Optional, beside Provider: a cloud whose quotas can be read before a launch."""

    def quota_needs(
        self, instance_type: str, accelerator: str, accelerator_count: int, *, spot: bool
    ) -> list[QuotaNeed]:
        """The quotas one instance of this type (in this market) counts against. Raises QuotaUnreadable."""
        ...


def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
