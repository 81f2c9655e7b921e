"""gcp-storage-emulator (PyPI, requirements-test.txt) as a local Cloud Storage JSON API for checkpoint tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

from fakes.moto import free_port


class GcsEmulator:
    def __init__(self) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> GcsEmulator:
        port = self.url.rsplit(":", 1)[1]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "gcp_storage_emulator", "start", "--port", port, "-H", "127.0.0.1", "-q", "-M"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/storage/v1/b?project=test", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gcp-storage-emulator did not start")

    def bucket(self, name: str) -> str:
        request = urllib.request.Request(self.url + "/storage/v1/b?project=test", method="POST",
                                         data=json.dumps({"name": name}).encode(),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        urllib.request.urlopen(request, timeout=10).close()
        return name

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
