"""Stand-in for Atlassian's Linux Docker runner, run as the runner container inside a test VM (test/fakes/vm).

It is imported into the VM's Docker under the exact name and tag of Atlassian's runner image, so the
startup script's `docker image inspect` fast path finds it as it would find a pre-pulled image. It:
- reads the environment the real runner reads (ACCOUNT_UUID, REPOSITORY_UUID, RUNNER_UUID,
  OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, WORKING_DIRECTORY; refuses to start without them);
- presents its OAuth client id and secret to the local Bitbucket's client-credentials endpoint (what
  makes the runner ONLINE there);
- asks the local Bitbucket for steps assigned to it; for each, it prints the real runner's log lines
  (`Getting step StepId{...}.`, `Completing step with result Result{status=PASSED, error=None}.`, as
  quoted by iterative/cml's runner log parser: src/drivers/bitbucket_cloud.js runnerLogPatterns and
  src/cml.test.js), pulls nothing, runs one step container through the Docker socket for the step's
  duration, and reports the step done;
- on SIGTERM (docker stop) it takes no new step, finishes the step it holds, then exits. (Assumed, not
  verified against the real runner: a step already handed out is run to its end.)

The local Bitbucket's address is test plumbing outside the user-data: the kernel command line
(`cml.test.bitbucket=http://10.0.2.2:PORT`), which /proc/cmdline shows inside containers too.
Stdlib only (Python 3.11 in the image).
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

REQUIRED = ("ACCOUNT_UUID", "RUNNER_UUID", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "WORKING_DIRECTORY")
LONG_POLL_S = 10  # well under docker stop's 30 s grace: a stopped runner exits before it is killed
stopping = False


def log(message: str) -> None:
    now = datetime.datetime.now()
    stamp = now.strftime("%Y-%m-%d %H:%M:%S") + f",{now.microsecond // 1000:03d}"
    print(f"[{stamp}] {message}", flush=True)


def kernel_args() -> dict[str, str]:
    with open("/proc/cmdline") as f:
        words = f.read().split()
    return dict(w.split("=", 1) for w in words if w.startswith("cml.test.") and "=" in w)


class DockerSocket(http.client.HTTPConnection):
    """HTTP over /var/run/docker.sock (the Docker Engine API), as the real runner talks to Docker."""

    def __init__(self, timeout: float = 60) -> None:
        super().__init__("docker", timeout=timeout)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect("/var/run/docker.sock")


def docker(method: str, path: str, body: object = None, timeout: float = 60) -> tuple[int, object]:
    conn = DockerSocket(timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        raw = answer.read()
        return answer.status, (json.loads(raw) if raw.strip().startswith((b"{", b"[")) else raw.decode())
    finally:
        conn.close()


class Bitbucket:
    def __init__(self, base: str, env: dict[str, str]) -> None:
        self.base = base.rstrip("/")
        self.env = env
        self.token = ""

    def request(self, method: str, path: str, data: bytes | None, headers: dict[str, str],
                timeout: float) -> tuple[int, bytes]:  # fmt: skip
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def sign_in(self) -> None:
        """RFC 6749 client-credentials grant with the runner's OAuth client (what makes it ONLINE)."""
        form = urllib.parse.urlencode({
            "grant_type": "client_credentials",
            "client_id": self.env["OAUTH_CLIENT_ID"],
            "client_secret": self.env["OAUTH_CLIENT_SECRET"],
        }).encode()  # fmt: skip
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        status, body = self.request("POST", "/_fake/oauth2/token", form, headers, 15)
        if status != 200:
            raise OSError(f"OAuth sign-in refused: HTTP {status}")
        self.token = json.loads(body)["access_token"]

    def next_step(self) -> dict[str, object] | None:
        headers = {"Authorization": "Bearer " + self.token}
        status, body = self.request("GET", f"/_fake/runner/steps/next?wait={LONG_POLL_S}", None, headers,
                                    LONG_POLL_S + 15)  # fmt: skip
        if status == 204:
            return None
        if status != 200:
            raise OSError(f"asking for steps: HTTP {status}")
        step: dict[str, object] = json.loads(body)
        return step

    def complete(self, step_uuid: str, status: str) -> None:
        headers = {"Authorization": "Bearer " + self.token, "Content-Type": "application/json"}
        data = json.dumps({"status": status}).encode()
        path = f"/_fake/runner/steps/{urllib.parse.quote(step_uuid)}/complete"
        for _ in range(10):
            try:
                if self.request("POST", path, data, headers, 15)[0] == 204:
                    return
            except OSError:
                pass
            time.sleep(2)


def own_image() -> str:
    """The image this container runs (the step container uses it too: nothing is pulled)."""
    status, info = docker("GET", f"/containers/{socket.gethostname()}/json")
    if status != 200 or not isinstance(info, dict):
        raise OSError(f"cannot inspect the runner's own container: HTTP {status}")
    return str(info["Config"]["Image"])


def run_step(step: dict[str, object], env: dict[str, str], image: str) -> str:
    uuid = str(step["uuid"])
    log(
        f"Getting step StepId{{accountUuid={env['ACCOUNT_UUID']}, repositoryUuid={env.get('REPOSITORY_UUID', '')}, "
        f"pipelineUuid={step['pipeline_uuid']}, stepUuid={uuid}}}."
    )
    name = uuid.strip("{}") + "_build"
    duration = float(str(step["duration_s"]))
    status, created = docker("POST", f"/containers/create?name={name}", {
        "Image": image, "Cmd": ["sleep", str(duration)], "Labels": {"org.cml.test.step": uuid},
    })  # fmt: skip
    if status != 201 or not isinstance(created, dict):
        log(f"Completing step with result Result{{status=FAILED, error=container create: HTTP {status}}}.")
        return "FAILED"
    cid = str(created["Id"])
    try:
        docker("POST", f"/containers/{cid}/start")
        docker("POST", f"/containers/{cid}/wait", timeout=duration + 3600)
    finally:
        docker("DELETE", f"/containers/{cid}?force=true")
    log("Completing step with result Result{status=PASSED, error=None}.")
    return "PASSED"


def on_sigterm(_signum: int, _frame: object) -> None:
    global stopping
    stopping = True
    log("Received SIGTERM: taking no new step")


def main() -> int:
    signal.signal(signal.SIGTERM, on_sigterm)
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        log("ERROR: missing environment variable(s) " + ", ".join(missing))
        return 1
    env = {name: os.environ[name] for name in (*REQUIRED, "REPOSITORY_UUID") if name in os.environ}
    args = kernel_args()
    if "cml.test.bitbucket" not in args:
        log("ERROR: no cml.test.bitbucket=URL on the kernel command line (test plumbing)")
        return 1
    bitbucket = Bitbucket(args["cml.test.bitbucket"], env)
    log(f"Starting runner stand-in for runner {env['RUNNER_UUID']}")
    while not stopping:
        try:
            bitbucket.sign_in()
            break
        except OSError as e:
            log(f"sign-in failed ({e}); retrying in 5 seconds")
            time.sleep(5)
    image = own_image()
    log(
        'Updating runner status to "ONLINE" and checking for new steps assigned to the runner '
        f"after 0 seconds and then every {LONG_POLL_S} seconds."
    )
    while not stopping:
        try:
            step = bitbucket.next_step()
        except OSError as e:
            log(f"checking for steps failed ({e})")
            time.sleep(2)
            continue
        if step is not None:  # handed out to us, even if SIGTERM came during the poll: run it to its end
            bitbucket.complete(str(step["uuid"]), run_step(step, env, image))
    log("Runner stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
