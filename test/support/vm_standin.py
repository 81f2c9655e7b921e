"""Plays the cloud VMs for end-to-end tests and the demo.

It watches an emulated cloud for new instances of ours, runs each one's real
startup script in a VmSandbox, and presents the OAuth credentials that the
script handed to the runner container to the local Bitbucket's token
endpoint, as Atlassian's runner does when it starts. So a runner goes ONLINE
only if the credentials survived the whole path: registration -> rendered
script -> cloud user-data -> boot -> docker run.
"""

from __future__ import annotations

import json
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from polling import PollingThread
from vm_sandbox import VmSandbox

# instance id -> the user-data / startup script the cloud holds for it
UserDataSource = Callable[[], Mapping[str, str | bytes]]


@dataclass
class Booted:
    instance_id: str
    returncode: int
    runner_env: dict[str, str]
    online: bool
    output: str = ""


@dataclass
class VmStandIn(PollingThread):
    user_data: UserDataSource
    token_url: str  # the local Bitbucket's OAuth token endpoint
    poll_s: float = 0.2
    boot: bool = True  # False: a VM that never brings its runner up (timeout tests)
    booted: dict[str, Booted] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="vm-standin-"))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                pending = {k: v for k, v in self.user_data().items() if k not in self.booted}
            except Exception:  # noqa: BLE001 - the cloud may be resetting between tests; try again
                pending = {}
            for instance_id, script in pending.items():
                self.booted[instance_id] = self._boot(instance_id, script)
            self._stop.wait(self.poll_s)

    def _boot(self, instance_id: str, script: str | bytes) -> Booted:
        if not self.boot:
            return Booted(instance_id, -1, {}, online=False)
        box = VmSandbox(Path(self._dir) / instance_id.replace("/", "_"), docker=True)
        result = box.run(script)
        env = box.runner_env() if result.returncode == 0 else {}
        online = bool(env) and present_oauth(self.token_url, env["OAUTH_CLIENT_ID"], env["OAUTH_CLIENT_SECRET"])
        return Booted(instance_id, result.returncode, env, online, result.stdout[-2000:])


def present_oauth(token_url: str, client_id: str, client_secret: str) -> bool:
    """The runner's client-credentials grant; True when Bitbucket accepted the pair."""
    body = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    ).encode()
    request = urllib.request.Request(token_url, data=body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return bool(json.loads(answer.read()).get("access_token"))
    except OSError:
        return False
