"""The bake's VM played on a cloud that is polled (the local AWS, the local GCP): a thread looks for running
bake instances; each new one's boot script (the bake role) runs once in a sandbox, what it printed goes to the
instance's serial console in the emulated cloud, and the instance powers off only as a real guest would: on the
script's own power-off, or when the backup power-off it armed fires (played at once). A script that ends without
either leaves the instance running. hang=True: never powers off.

sandbox: VmSandbox options for the image, e.g. {"apt_missing": ("docker.io",)} for an install that fails."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any, Self

from vm_sandbox import VmSandbox


def power_off_reason(box: VmSandbox) -> str | None:
    """'script' when the script powered the guest off itself (systemctl poweroff, poweroff, shutdown -h/-P), 'timer'
    when it armed a backup power-off (systemd-run ... systemctl poweroff) that will fire, None when neither."""
    for argv in box.records():
        name, args = argv[0], argv[1:]
        if (name == "systemctl" and args[:1] == ["poweroff"]) or name == "poweroff":
            return "script"
        if name == "shutdown" and any(a in ("-h", "-P", "--poweroff") for a in args):
            return "script"
    for argv in box.records():
        if argv[0] == "systemd-run" and argv[-1:] == ["poweroff"]:
            return "timer"
    return None


class PollingBakeGuest:
    def __init__(self, hang: bool = False, sandbox: dict[str, Any] | None = None) -> None:
        self.hang = hang
        self.sandbox = dict(sandbox or {})
        self.outputs: dict[str, str] = {}  # instance id or name -> its bake script's output
        self.powered_off: dict[str, str] = {}  # instance id or name -> 'script' or 'timer'
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._dir = tempfile.mkdtemp(prefix="bake-guest-")
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.errors and exc[0] is None:
            raise self.errors[0]

    def running_bakes(self) -> list[tuple[str, dict[str, Any]]]:
        """(id, the cloud's record) of each bake instance running now."""
        raise NotImplementedError

    def script_of(self, raw: dict[str, Any]) -> bytes:
        """The instance's boot script as the cloud hands it to the guest."""
        raise NotImplementedError

    def write_console(self, key: str, text: str) -> None:
        """Put the guest's output on the instance's serial console in the emulated cloud."""
        raise NotImplementedError

    def power_off(self, key: str) -> None:
        """What the guest's power-off does to the instance on this cloud."""
        raise NotImplementedError

    def boot(self, key: str, raw: dict[str, Any]) -> None:
        box = VmSandbox(Path(self._dir) / key.replace("/", "_"), docker=False, **self.sandbox)
        result = box.run(self.script_of(raw))
        self.outputs[key] = result.stdout
        self.write_console(key, result.stdout)
        reason = power_off_reason(box)
        if reason and not self.hang:
            self.powered_off[key] = reason
            self.power_off(key)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for key, raw in self.running_bakes():
                if key not in self.outputs:
                    try:
                        self.boot(key, raw)
                    except Exception as error:  # noqa: BLE001 - reported by __exit__, in the test's thread
                        self.outputs[key] = f"guest stand-in failed: {error}"
                        self.errors.append(error)
            self._stop.wait(0.1)
