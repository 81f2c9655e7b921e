"""The demo's read-back: what a user would see, read from the local servers after the run (the instance, the
runner, the pull request, the report comment, Code Insights), and the report rendered as an HTML page."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import TYPE_CHECKING

from fakes.emulated import Instance
from pod_standin import PodBooted

from demo.example import REPO_SLUG, WORKSPACE
from demo.output import say, section
from pipe.report import preview

if TYPE_CHECKING:
    from demo.steps import Demo

# The report's links once the pipe has uploaded their targets: <web host>/<workspace>/<repo>/downloads/<name>.
_DOWNLOAD = re.compile(r"https?://[^\s)\"'<>]+?/downloads/([^/)\s\"'#?<>]+)")


class ReadBackError(Exception):
    """What the run should have left is not there; str() says what."""


def render_report(demo: Demo, pr_id: int) -> Path:
    """The PR's report comment as Bitbucket would render it, images inlined from the local Downloads."""
    assert demo.bitbucket is not None
    repo = demo.bitbucket.repo(WORKSPACE, REPO_SLUG)
    with demo.bitbucket.lock:
        comments = [c for c in repo.comments.values() if c.pr_id == pr_id]
        if not comments:
            raise ReadBackError(f"no report comment on PR #{pr_id}")
        raw = comments[-1].raw
        images: dict[str, tuple[bytes, str]] = {}
        for match in _DOWNLOAD.finditer(raw):
            stored = repo.downloads.get(match.group(1))
            if stored is not None:
                mime = mimetypes.guess_type(match.group(1))[0] or "application/octet-stream"
                images[match.group(0)] = (stored.content, mime)
    html_path = demo.workdir / "report.html"
    html_path.write_text(preview.render(raw, images, title=f"PR #{pr_id}: training report"), encoding="utf-8")
    return html_path

def show(demo: Demo, runner_uuid: str, pr_id: int, html_path: Path) -> None:
    assert demo.bitbucket is not None and demo.cloud is not None
    fake, cloud = demo.bitbucket, demo.cloud
    repo = fake.repo(WORKSPACE, REPO_SLUG)
    base = fake.root_url

    say()
    say("=" * 100)
    say("What a user would see (read back from the local servers)")
    say("=" * 100)

    instances: list[Instance] = cloud.instances()
    with fake.lock:
        runner = fake.runner(runner_uuid)
        uuid_tag = runner.uuid.strip("{}")
    mine = [i for i in instances if i.tags.get("cml-runner-uuid") == uuid_tag] or instances
    section(f"The instance ({demo.cloud_name.upper()} console, from the local cloud's API)")
    for inst in mine:
        say(f"  instance: {inst.id}")
        say(f"  type: {inst.instance_type}   zone: {inst.zone}   state: {inst.status}")
        say("  labels:" if demo.cloud_name == "gcp" else "  tags:")
        for key, value in sorted(inst.tags.items()):
            say(f"    {key} = {value}")

    section("The runner (Repository settings > Runners)")
    with fake.lock:
        say(f"  runner: {runner.name} {runner.uuid}")
        say(f"  status: {runner.status}")
        say(f"  labels: {', '.join(runner.labels)}")
        booted = demo.standin.booted if demo.standin is not None else {}
        for inst in mine:
            started = booted.get(inst.id)
            if isinstance(started, PodBooted):
                say(f"  started by: the runner container of Job {inst.id}'s pod (credentials from its Secret)")
            elif started is not None:
                say(f"  started by: the startup script of {inst.id} (exit status {started.returncode})")
        vms = demo.hypervisor.vms if demo.hypervisor is not None else {}
        for inst in mine:
            if inst.id in vms:
                console = vms[inst.id].console_path
                say(f"  started by: the startup script of {inst.id} in a real VM; console {console}")
                for line in vms[inst.id].console().splitlines():
                    if "cml-runner: step" in line or "cml-runner: boot done" in line:
                        say("  | " + line.split("cml-runner: ", 1)[1])

        pr = repo.pulls[pr_id]
        commit_hash = pr.source_commit(repo)
        commit = repo.commits[commit_hash]
        parent = repo.commits[commit.parents[0]].tree if commit.parents else {}
        changed = sorted(p for p, data in commit.tree.items() if parent.get(p) != data)
        comments = [c for c in repo.comments.values() if c.pr_id == pr_id]
        reports = [(k, v) for k, v in repo.reports.items() if k[0] == commit_hash]

    section("The pull request")
    say(f"  pull request: #{pr.id} {pr.title!r} ({pr.state})")
    say(f"  branch: {pr.source_branch} -> {pr.destination_branch}")
    say(f"  url: {base}/{repo.full_name}/pull-requests/{pr.id}")
    say(f"  commit: {commit_hash[:12]} {commit.message.splitlines()[0]!r} by {commit.author}")
    say(f"  files in the commit: {', '.join(changed)}")

    section("The report comment on the pull request")
    for comment in comments:
        say(f"  comment: {comment.id}")
        say(f"  url: {base}/{repo.full_name}/pull-requests/{pr.id}#comment-{comment.id}")
        # Without the pipe's invisible marker line (a markdown link definition: it does not render).
        lines = [line for line in comment.raw.splitlines() if line.strip() and not line.startswith("[cml-runner-")]
        for line in lines[:14]:
            say(f"  | {line[:120]}")
        if len(lines) > 14:
            say(f"  | ... ({len(lines) - 14} more lines)")

    section(f"Code Insights on commit {commit_hash[:12]} (the pull request's commit)")
    for (_, report_id), body in reports:
        say(f"  report: {report_id}")
        say(f"  title: {body.get('title', '')}   result: {body.get('result') or 'none'}")
        for item in body.get("data") or []:
            say(f"    {item.get('title')}: {item.get('value')}")

    section("The report as it renders on the pull request")
    say(f"  html: {html_path}")
    say(f"  (open it in a browser; the outputs of this run are in {demo.workdir})")
    say()
