#!/usr/bin/python3
"""Test plumbing in the test image (test/fakes/vm), never part of what the pipe ships.

1. Mounts the NoCloud seed (label cidata) read-only at /run/cml-test/seed, so a test can hand the guest
   extra files beside the user-data without touching the user-data itself.
2. Serves a command channel on the virtio-serial port org.cml.test.0: the host writes one JSON line
   {"id": n, "cmd": "...", "timeout": s}; the guest runs it with bash and answers one JSON line
   {"id": n, "rc": exit status, "out": stdout and stderr}. Like a cloud's serial console or run-command
   agent, it is how a test looks inside (docker ps) or acts (stop the idle agent).
"""

import json
import os
import subprocess
import time

PORT = "/dev/virtio-ports/org.cml.test.0"
SEED = "/run/cml-test/seed"


def mount_seed() -> None:
    os.makedirs(SEED, exist_ok=True)
    subprocess.run(["mount", "-o", "ro", "LABEL=cidata", SEED], check=False, capture_output=True)


def run(request: dict) -> dict:
    try:
        done = subprocess.run(
            ["bash", "-c", request["cmd"]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=float(request.get("timeout", 60)), check=False,
        )
        return {"id": request.get("id"), "rc": done.returncode, "out": done.stdout.decode(errors="replace")}
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        return {"id": request.get("id"), "rc": 124, "out": out + "\n(timed out)"}


def serve() -> None:
    for _ in range(300):
        if os.path.exists(PORT):
            break
        time.sleep(0.1)
    fd = os.open(PORT, os.O_RDWR)
    buffer = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:  # no host connected: nothing to read yet
            time.sleep(0.2)
            continue
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                request = json.loads(line)
            except ValueError:
                continue
            answer = (json.dumps(run(request)) + "\n").encode()
            while answer:
                answer = answer[os.write(fd, answer):]


if __name__ == "__main__":
    mount_seed()
    serve()
