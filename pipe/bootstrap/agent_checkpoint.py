"""Spot recovery on the VM: the agent copies the running step's CHECKPOINT_PATH to the store every
CHECKPOINT_INTERVAL while a step runs, and once more when the cloud's interruption notice comes, before the
runner is stopped. Shipped last (after agent.py, agent_vm.py, checkpoints.py and store_s3.py) when
SPOT_RECOVERY is on, so the agent of every other VM carries none of it: its main guard wraps the VM agent's
CloudMetadata (with_checkpoints) before calling the VM agent's main(), which reads that name when it runs. The
agent asks the cloud for a notice at every poll: that is when the wrapper copies, on a notice before it answers
it (so before the agent stops the runner), and otherwise every interval while a step's clone is there.

The notice leaves little time: AWS gives two minutes (docs.aws.amazon.com/AWSEC2/latest/UserGuide/
spot-instance-termination-notices.html), GCP about 30 seconds (cloud.google.com/compute/docs/instances/
spot#preemption-process), Azure at least 30 seconds for a Preempt event (learn.microsoft.com/azure/
virtual-machines/linux/scheduled-events). The interval copy is what makes a late or short notice lose at most
one interval: the last copy then only sends what changed since.

The VM holds no Bitbucket token and no key of the pipe's: the store is written with the instance's own
identity (AWS: the instance profile, through IMDSv2). The step's clone is found through Docker: the build
container's bind mount of Bitbucket's clone directory (BITBUCKET_CLONE_DIR, /opt/atlassian/pipelines/agent/build
on a Linux Docker runner); CHECKPOINT_PATH must resolve inside it, so a symlink in the clone cannot make the
agent (root) upload a host file.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Callable  # noqa: UP035 - the VM may run Python 3.8

from pipe.bootstrap.agent_vm import CloudMetadata, DockerHost, _run, http, main
from pipe.bootstrap.checkpoints import Changed, Objects, StoreError, save
from pipe.bootstrap.relaunch import count_interruption, market, run_instance, run_params
from pipe.bootstrap.store_s3 import S3Objects, instance_keys

CLONE_IN_STEP = "/opt/atlassian/pipelines/agent/build"


def clone_on_host(containers: list[str], inspect: Callable[[str], str] | None = None) -> str | None:
    """The host folder mounted as a running step's clone directory, or None (no step, or not a build)."""
    look = inspect or (lambda cid: _run(["docker", "inspect", "-f", "{{json .Mounts}}", cid], 30))
    for cid in containers:
        try:
            mounts = json.loads(look(cid) or "[]")
        except (OSError, ValueError):
            continue
        for mount in mounts or []:
            if mount.get("Destination") == CLONE_IN_STEP and mount.get("Source"):
                return str(mount["Source"])
    return None


def inside(clone: str, relative: str) -> str | None:
    """clone/relative after every symlink, only if it stays inside the clone."""
    root = os.path.realpath(clone)
    folder = os.path.realpath(os.path.join(root, relative))
    return folder if folder.startswith(root + os.sep) else None


class Saver:
    def __init__(self, cfg: dict[str, Any], objects: Objects, locate: Callable[[], str | None],
                 log: Callable[[str], None], now: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.base, self.path = cfg["base"], cfg["path"]
        self.interval = float(cfg["interval_s"])
        self.objects, self.locate, self.log, self.now = objects, locate, log, now
        self.last = now()
        self.relaunch: Callable[[], str | None] | None = None  # Relauncher when the pipe asked for it

    def tick(self) -> None:
        """Each poll: while a step's clone is there, a copy every interval (counted from the step's start)."""
        if self.locate() is None:
            self.last = self.now()
        elif self.now() - self.last >= self.interval:
            self.copy("interval")

    def copy(self, reason: str) -> bool:
        started = self.now()
        self.last = started
        clone = self.locate()
        if clone is None:
            self.log(f"checkpoint ({reason}): no running step's clone found; nothing copied")
            return False
        folder = inside(clone, self.path)
        if folder is None:
            self.log(f"checkpoint ({reason}): {self.path} leads outside the step's clone; nothing copied")
            return False
        try:
            saved = save(self.objects, self.base, folder, reason=reason, now=self.now)
        except Changed:
            self.log(f"checkpoint ({reason}): {self.path} changed while it was copied; the previous one stays latest")
            return False
        except (StoreError, OSError) as error:
            self.log(f"checkpoint ({reason}) FAILED, the previous one stays latest: {error}")
            return False
        took = self.now() - started
        if saved is None:
            self.log(f"checkpoint ({reason}): nothing new in {self.path} ({took:.1f} s)")
        else:
            files = saved["files"] if isinstance(saved["files"], list) else []
            self.log(f"checkpoint ({reason}): {saved['id']} saved, {len(files)} files in {took:.1f} s")
        return saved is not None


def objects_for(cfg: dict[str, Any], keys: Any) -> Objects:
    store = cfg["store"]
    if store["cloud"] != "aws":
        raise StoreError(f"no {store['cloud']} checkpoint store on the VM in this version")
    return S3Objects(store["bucket"], keys, region=store["region"], endpoint=store.get("endpoint", ""),
                     region_known=True)  # fmt: skip


class Relauncher:
    """On a notice, after the last copy: count the interruption, then start the replacement (relaunch.py)."""

    def __init__(self, cfg: dict[str, Any], agent_cfg: dict[str, Any], objects: Objects, keys: Any,
                 log: Callable[[str], None], request: Any = http) -> None:  # fmt: skip
        self.cfg, self.relaunch = cfg, cfg["relaunch"]
        self.imds = agent_cfg.get("imds_url", "http://169.254.169.254")
        self.runner_uuid = agent_cfg.get("runner_uuid", "")
        self.objects, self.keys, self.log, self.request = objects, keys, log, request

    def md(self, path: str) -> bytes:
        status, token = self.request("PUT", self.imds + "/latest/api/token",
                                     {"X-aws-ec2-metadata-token-ttl-seconds": "300"}, 3.0)  # fmt: skip
        where = "/latest/user-data" if path == "user-data" else "/latest/meta-data/" + path
        status, body = self.request("GET", self.imds + where, {"X-aws-ec2-metadata-token": token.decode()}, 3.0)
        return body if status == 200 else b""

    def __call__(self) -> str | None:
        try:
            count = count_interruption(self.objects, self.cfg["base"], self.runner_uuid)
            kind = market(count, int(self.relaunch["spot_attempts"]))
            if kind is None:
                self.log(f"relaunch: this runner was interrupted {count} times, the cap; not relaunching")
                return None
            params = run_params(self.md, self.relaunch, kind, count + 1)
            region = self.md("placement/region").decode().strip()
            new = run_instance(params, self.keys(), region, self.relaunch.get("endpoint", ""))
        except (StoreError, OSError, ValueError, KeyError) as error:
            self.log(f"relaunch FAILED after interruption: {error}; the retried step waits for a runner")
            return None
        self.log(f"relaunch: interruption {count}, replacement {new} ({kind}) takes the retried step")
        return new


def make_saver(agent_cfg: dict[str, Any], log: Callable[[str], None]) -> Saver | None:
    cfg = agent_cfg.get("checkpoint")
    if not cfg:
        return None
    keys = instance_keys(agent_cfg.get("imds_url", "http://169.254.169.254"), http)
    try:
        objects = objects_for(cfg, keys)
    except StoreError as error:
        log(f"spot recovery is off on this instance: {error}")
        return None
    host = DockerHost(agent_cfg["runner_container"], agent_cfg["runner_service"], agent_cfg["baseline_file"],
                      agent_cfg.get("root", ""))  # fmt: skip

    def locate() -> str | None:
        try:
            return clone_on_host(host.step_containers())
        except OSError:
            return None

    log(f"spot recovery: copying {cfg['path']} every {int(cfg['interval_s'])} s and on an interruption notice")
    saver = Saver(cfg, objects, locate, log)
    if cfg.get("relaunch"):
        saver.relaunch = Relauncher(cfg, agent_cfg, objects, keys, log)
    return saver


def with_checkpoints(base: Any, saver_for: Callable[..., Saver | None] = make_saver) -> Any:
    """The cloud as the agent sees it, with the copies added (see the module's docstring)."""

    class Saving(base):
        def __init__(self, cfg: dict[str, Any], power_off: Callable[[], None], log: Callable[[str], None],
                     request: Any = http) -> None:  # fmt: skip
            super().__init__(cfg, power_off, log, request)
            self.saver = saver_for(cfg, log)

        def interruption(self) -> str | None:
            notice = super().interruption()
            if self.saver is not None:
                if notice:
                    self.saver.copy("interruption")
                    if self.saver.relaunch is not None:
                        self.saver.relaunch()
                else:
                    self.saver.tick()
            return notice

    return Saving


if __name__ == "__main__":
    CloudMetadata = with_checkpoints(CloudMetadata)  # type: ignore[misc]  # one shipped program: main() reads it
    sys.exit(main(sys.argv))
