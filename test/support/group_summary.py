"""One line per test group at the end of a run (unit, adapters, e2e, vm), so a contributor sees where time goes.

A test's group is its folder under test/ (unit, adapters, e2e), except that a test on a real booted VM (marker
`vm`) is in the group vm wherever it lives. Under pytest-xdist the reports reach the controller, which prints the
lines; the figures are the tests' own times (setup, call and teardown) added up, and the stretch of the run in
which the group's tests ended, since with several workers the groups overlap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

GROUPS = ("unit", "adapters", "e2e", "vm")


@dataclass
class Group:
    outcomes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    first_end: float | None = None
    last_end: float = 0.0

    def add(self, report: pytest.TestReport, now: float) -> None:
        self.seconds += report.duration
        self.first_end = now if self.first_end is None else self.first_end
        self.last_end = now
        outcome = outcome_of(report)
        if outcome:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def line(self, name: str, started: float) -> str:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.outcomes.items())) or "no test"
        first = (self.first_end or started) - started
        return (
            f"{name:>8}: {counts}; {self.seconds:.0f} s of test time, "
            f"ended between {first:.0f} s and {self.last_end - started:.0f} s into the run"
        )


def outcome_of(report: pytest.TestReport) -> str | None:
    """A test's one outcome, as pytest's own summary counts it: its call's, or an error or skip around it."""
    if report.when == "call":
        return report.outcome
    if report.outcome == "failed":
        return "error"
    return "skipped" if report.outcome == "skipped" else None


def group_of(report: pytest.TestReport) -> str:
    if report.keywords.get("vm"):
        return "vm"
    parts = report.nodeid.split("::", 1)[0].split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "test" and parts[1] in GROUPS else "other"


class GroupSummary:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.groups: dict[str, Group] = {}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.groups.setdefault(group_of(report), Group()).add(report, time.monotonic())

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.groups:
            return
        terminalreporter.section("time per test group")
        for name in (*GROUPS, "other"):
            if name in self.groups:
                terminalreporter.write_line(self.groups[name].line(name, self.started))


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist) prints; workers only report
        config.pluginmanager.register(GroupSummary(), "group-summary")
